"""Recorder backends: the drive and the disc in it.

Owns the :class:`~cdfs.recorders.recorder.Recorder` interface, the media
model (disc types, geometry, sessions, where the next session may start),
the emulated recorder whose disc is an image file (its pace and
injected faults), the real-drive recorder
driven through xorriso and the write speeds it offers
(:mod:`cdfs.recorders.speeds`), the drive lock, udev discovery of recorders
and watching them for disc changes (:mod:`cdfs.recorders.udevwatch`), the
empty drive (:mod:`cdfs.recorders.nodisc`), and opening the backend a drive
name means (:mod:`cdfs.recorders.opening`).

May import: the core modules at the top of :mod:`cdfs` (errors, units,
paths, private, names, config) and nothing else of cdfs.  Everything above
talks to a drive only through the interface.
"""
