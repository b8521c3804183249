"""The mounted file system: what the mount point shows and accepts.

Owns the FUSE adapter (:mod:`cdfs.mount.fs`, the only importer of
pyfuse3), the merged view of disc and staging tree with the write-once
rules, attributes and the staged attribute changes of burned folders, open
files, hard links, the nodes and attributes, the staging tree
on local disk, the names a running burn holds, space accounting (``df``,
ENOSPC) and the report of names readers will see differently.

May import: the core modules, :mod:`cdfs.recorders` and :mod:`cdfs.iso`;
never the burn job or the command line (the daemon wires them together).
"""
