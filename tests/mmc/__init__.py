"""A simulated MMC recorder that real xorriso/libburn drives as /dev/sr0.

:mod:`tests.mmc.model` is the drive (pure Python, no I/O but the disc's
image file): its state and the commands that change something, with the
reporting commands in :mod:`tests.mmc.reports`, the discs in
:mod:`tests.mmc.disc` and sense codes in :mod:`tests.mmc.scsi`;
:mod:`tests.mmc.bed` puts it behind a umockdev testbed's ``/dev/sr0``;
:mod:`tests.mmc.harness` is what tests use.
"""
