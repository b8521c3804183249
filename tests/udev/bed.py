"""A faked udev for tests: run as ``umockdev-wrapper /usr/bin/python3 bed.py``.

umockdev's testbed (Debian's gir1.2-umockdev-1.0, reached through PyGObject,
Debian's python3-gi) fakes ``/sys`` and the udev database for this process
and, through the preload library umockdev-wrapper sets, for every process
it starts: they see the devices added here and receive the uevents sent
from here on their pyudev monitors.  PyGObject is Debian's build for
/usr/bin/python3, not installed in cdfs's virtual environment, hence this
separate interpreter; the cdfs commands it runs are the venv's.

Commands, one JSON object a line on stdin; one JSON answer a line on stdout:
  {"op": "add", "name": "sr0", "props": {...}}      a block device
  {"op": "change", "name": "sr0", "props": {...}}   new properties + change uevent
  {"op": "run", "argv": [...], "env": {...}}        run, answer rc/stdout/stderr
It ends when stdin closes.
"""

import json
import os
import subprocess
import sys

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

MEDIA_KEYS = ("ID_CDROM_MEDIA", "DISK_MEDIA_CHANGE", "DISK_EJECT_REQUEST")


def main() -> None:
    bed = UMockdev.Testbed.new()
    sysfs = {}
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "add":
            props = [x for kv in req["props"].items() for x in kv]
            sysfs[req["name"]] = bed.add_device(
                "block", req["name"], None, ["dev", "11:0", "size", "0"], props
            )
            answer = {"sysfs": sysfs[req["name"]]}
        elif op == "change":
            path = sysfs[req["name"]]
            for key, value in req["props"].items():
                bed.set_property(path, key, value)
            bed.uevent(path, "change")
            answer = {"ok": True}
        elif op == "run":
            env = dict(os.environ)
            env["UMOCKDEV_DIR"] = bed.get_root_dir()
            env.update(req.get("env", {}))
            done = subprocess.run(
                req["argv"], env=env, capture_output=True, text=True, timeout=req.get("timeout", 60)
            )
            answer = {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        else:
            answer = {"error": f"unknown op {op}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
