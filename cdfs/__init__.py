"""cdfs: a CD/DVD/BD recorder as a FUSE filesystem with a staging area.

One folder per layer, top to bottom; a module imports only its own layer
and those below it (``tests/test_layout.py`` checks every import):

- this folder's command-line modules: the ``cdfs`` command
  (:mod:`cdfs.cli`, :mod:`cdfs.parser`, :mod:`cdfs.progress`), the mount
  daemon that wires the layers (:mod:`cdfs.daemon`), mount-time checks and
  dead mounts;
- :mod:`cdfs.burn`: the burn job, snapshots, checks, journal, recovery;
- :mod:`cdfs.mount`: the FUSE adapter, the merged view, staged files, space;
- :mod:`cdfs.iso`: mastering, the session writer, Rock Ridge, names, reading
  sessions back;
- :mod:`cdfs.recorders`: the recorder interface, the emulated and xorriso
  backends, the media model, udev discovery;
- core, at the bottom, in this folder: errors, units, paths, private files,
  reserved names, settings.  They import nothing of cdfs above them.
"""

__version__ = "0.1.0"
