"""The on-disc format: ISO 9660 with Joliet and Rock Ridge, multisession.

Owns mastering the next session into one image (the stash file) and
the readers of the file data it copies, placing
pycdlib's records at an absolute sector (the session writer), the Rock
Ridge rules and symbolic links, the names a session gets (ISO 9660, Joliet,
volume identifiers), and reading a session back from a disc.

May import: the core modules and :mod:`cdfs.recorders` (the media model's
geometry); never the mount, the burn job or the command line.
"""
