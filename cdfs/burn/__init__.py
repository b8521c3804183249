"""Burning: turning what is staged into a session on the disc, safely.

Owns the burn job (:mod:`cdfs.burn.job`: snapshot, master, record, verify,
then drop exactly what was burned), snapshots of staging, the checks before
and after recording, the journal that lets a killed burn be settled,
recovery, burn options and the close policy, the outcome of a burn, burning
a ready-made image, the stash, the status in plain words, and taking a
desktop's own mount of the disc away before recording.

May import: the core modules, :mod:`cdfs.recorders`, :mod:`cdfs.iso` and
:mod:`cdfs.mount`; never the command line or the daemon.
"""
