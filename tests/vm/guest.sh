#!/bin/bash
# The VM test lane, guest side: run as root by cdfs-vmtest.service once the
# share (/mnt/share, made by tests/vm/run.sh) is mounted.  Copies the
# checkout to /opt/cdfs-src, starts CDEmu (vhba, its own D-Bus bus, one
# drive for the whole boot), runs the tests marked `vm` and leaves their
# exit status in out/rc; the unit powers the guest off after it.
share=/mnt/share
out=$share/out
exec > >(tee "$out/guest.log") 2>&1
set -u
rc=99
# Power off at once when done: an orderly shutdown can hang on CDEmu's
# drive once its daemon is gone.
trap 'echo "$rc" >"$out/rc"; exec >/dev/console 2>&1; sleep 1; sync; echo o >/proc/sysrq-trigger' EXIT
step() { echo "guest: $*"; }

src=/opt/cdfs-src
step "kernel $(uname -r), $(nproc) CPU"
cp -a "$share/src" "$src"
# Compiled once here, not by every process (PYTHONDONTWRITEBYTECODE below):
# under software emulation each cdfs command compiling its modules again
# costs seconds.
/opt/cdfs/bin/python -m compileall -q "$src/cdfs" "$src/tests" >/dev/null
chmod -R a+rX "$src"
cat >/usr/local/bin/cdfs <<SH
#!/bin/sh
export PYTHONPATH=$src\${PYTHONPATH:+:\$PYTHONPATH}
exec /opt/cdfs/bin/python -m cdfs "\$@"
SH
chmod 0755 /usr/local/bin/cdfs
install -D -m 0644 "$src/udev/61-cdfs.rules" /etc/udev/rules.d/61-cdfs.rules
udevadm control --reload

step "CDEmu"
modprobe vhba || { step "vhba does not load"; exit; }
for _ in $(seq 50); do [ -c /dev/vhba_ctl ] && break; sleep 0.1; done
bus=$(dbus-daemon --session --fork --print-address=1) || { step "no D-Bus daemon"; exit; }
export DBUS_SESSION_BUS_ADDRESS=$bus
echo "$bus" >/run/cdemu-bus
cdemu-daemon --num-devices=1 --ctl-device=/dev/vhba_ctl --audio-driver=null \
  >"$out/cdemu-daemon.log" 2>&1 &
for _ in $(seq 100); do cdemu status >/dev/null 2>&1 && break; sleep 0.2; done
cdemu status || { step "cdemu-daemon does not answer"; exit; }
for _ in $(seq 100); do [ -b /dev/sr0 ] && break; sleep 0.2; done
udevadm settle --timeout=30
ls -l /dev/sr* /dev/sg* 2>&1

step "tests"
cd "$src" || exit
export CDFS_VM=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$src CDFS_VM_CORPUS=$share/corpus
[ -e "$share/no-corpus" ] && export CDFS_VM_NO_CORPUS=1
read -r -a extra <"$share/pytest-args" || true
tests() {  # tests() NAME PATH...: one pytest run; exit status 5 is "none selected"
  local name=$1; shift
  timeout 1800 /opt/cdfs/bin/python -m pytest -p no:cacheprovider -o addopts= -m vm -rA \
    --junitxml="$out/junit-$name.xml" "$@" "${extra[@]}"
  local got=$?
  if [ "$got" = 5 ]; then return; fi
  ran=$((ran + 1))
  [ "$got" = 0 ] || rc=$got
}
rc=0 ran=0
tests lane tests/vm --ignore=tests/vm/test_vm_corpus.py
# The corpus discs are burned on the host while the tests above ran.
if [ ! -e "$share/no-corpus" ]; then
  step "waiting for the host's corpus discs"
  for _ in $(seq 900); do [ -e "$share/corpus-rc" ] && break; sleep 1; done
  step "corpus discs: exit status $(cat "$share/corpus-rc" 2>/dev/null || echo 'none within 900 s')"
fi
tests corpus tests/vm/test_vm_corpus.py
if [ "$ran" = 0 ]; then step "no test was selected"; rc=5; fi
step "pytest exited $rc"
(cd /tmp && find pytest-of-root -name '*.log' -print0 | tar --null -T - -cf "$out/test-logs.tar")
journalctl -b --no-pager -o short-monotonic >"$out/journal.log" 2>&1
