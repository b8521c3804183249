"""The desktop: what file managers, the wizard and notifications see of cdfs.

Owns the drive's readable name and where it is mounted so that file
managers list it (:mod:`cdfs.desktop.sidebar`), the per-user context menu
actions of the file managers (:mod:`cdfs.desktop.actions`) and the commands
they run (:mod:`cdfs.desktop.commands`), the wizard (:mod:`cdfs.desktop.wizard`),
notifications (:mod:`cdfs.desktop.notify`) and the sleep inhibitor
(:mod:`cdfs.desktop.inhibit`).

Part of the top layer ("app"), with the command line: may import every
layer below (the core modules, :mod:`cdfs.recorders`, :mod:`cdfs.iso`,
:mod:`cdfs.mount`, :mod:`cdfs.burn`); nothing below imports it.
"""
