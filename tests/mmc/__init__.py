"""A simulated MMC recorder that real xorriso/libburn drives as /dev/sr0.

:mod:`tests.mmc.model` is the drive and its discs (pure Python, no I/O but
the disc's image file); :mod:`tests.mmc.bed` puts it behind a umockdev
testbed's ``/dev/sr0``; :mod:`tests.mmc.harness` is what tests use.
"""
