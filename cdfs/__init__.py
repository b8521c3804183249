"""cdfs: a CD/DVD/BD recorder as a FUSE filesystem with a staging area.

Layers, top to bottom: FUSE adapter (:mod:`cdfs.fs`) -> merged view
(:mod:`cdfs.view`) -> burn job (:mod:`cdfs.burn`) -> mastering
(:mod:`cdfs.mastering`) -> recorder backends (:mod:`cdfs.emulated`,
:mod:`cdfs.xorriso`) -> media model (:mod:`cdfs.media`).
"""

__version__ = "0.1.0"
