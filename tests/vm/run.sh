#!/usr/bin/env bash
# The VM test lane, host side (`make vmtest`): builds the guest image when
# the cache has none for this image.sh and these requirements (tests/vm/
# image.sh), builds the corpus discs the guest's kernel reads
# (tests/vm/corpus_images.py), boots the guest under QEMU with a share of
# this checkout's files, and brings back what the guest's tests said.
#
# Needs root (debootstrap, chroot, mkfs), qemu-system-x86_64 and, for the
# first image build only, network.  The guest has no network.
#
# Environment: CDFS_VM_CACHE (/var/cache/cdfs-vm), CDFS_VM_TIMEOUT (seconds
# the guest may run, 1200), CDFS_VM_ARGS (more pytest arguments for the
# guest, e.g. "-k recorder").
set -euo pipefail

cd "$(dirname "$0")/../.."
checkout=$PWD
cache=${CDFS_VM_CACHE:-/var/cache/cdfs-vm}
timeout=${CDFS_VM_TIMEOUT:-1200}
results=$checkout/.vmtest
host_python=${CDFS_VM_HOST_PYTHON:-$checkout/.venv/bin/python}

fail() { echo "vmtest: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot and mkfs build the guest image)"
qemu=$(command -v qemu-system-x86_64) \
  || fail "qemu-system-x86_64 is missing: the VM lane cannot run here (Debian: apt-get install qemu-system-x86)"
"$qemu" -accel help 2>/dev/null | grep -qx tcg \
  || fail "$qemu has no TCG (software emulation): the VM lane cannot run here"
command -v debootstrap >/dev/null || fail "debootstrap is missing (Debian: apt-get install debootstrap)"

# cdfs' Python requirements, and those of its tests, from pyproject.toml.
requirements=$(python3 - <<'PY'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
tools = ("ruff", "mypy", "argparse-manpage")
test = [r for r in p["optional-dependencies"]["test"] if not r.startswith(tools)]
print(" ".join(r.replace(" ", "") for r in p["dependencies"] + test))
PY
)
key=$( { cat tests/vm/image.sh; echo "$requirements"; } | sha256sum | cut -c1-16)
image=$cache/trixie-$key
mkdir -p "$cache"

# The share: a copy of the checkout's files (not .git, not the venv), the
# guest's script, the corpus discs and the guest's results.
run=$cache/run
rm -rf "$run"
mkdir -p "$run/src" "$run/out" "$run/corpus"
tar -C "$checkout" --exclude=./.git --exclude=./.venv --exclude=./.vmtest \
  --exclude='__pycache__' --exclude=./.mypy_cache --exclude=./.ruff_cache \
  --exclude=./.pytest_cache --exclude=./.hypothesis -cf - . | tar -C "$run/src" -xf -
cp tests/vm/guest.sh "$run/guest.sh"
printf '%s\n' "${CDFS_VM_ARGS:-}" >"$run/pytest-args"

# The corpus discs are burned on the host while the image is built.
corpus_pid=
if [ -n "${CDFS_VM_NO_CORPUS:-}" ]; then
  touch "$run/no-corpus"  # the guest's corpus test says it was skipped
else
  [ -x "$host_python" ] || fail "$host_python is missing: run 'make venv' first"
  echo "vmtest: burning the corpus discs for the guest's kernel to read" >&2
  corpus_start=$SECONDS
  # In the background, while the image is built and the guest boots and
  # runs its other tests: the guest runs the corpus's tests last, once
  # corpus-rc (this step's exit status) is there.
  ( "$host_python" -m tests.vm.corpus_images "$run/corpus" >"$run/corpus.log" 2>&1
    echo $? >"$run/corpus-rc.tmp" && mv "$run/corpus-rc.tmp" "$run/corpus-rc" ) &
  corpus_pid=$!
  # shellcheck disable=SC2064
  trap "kill $corpus_pid 2>/dev/null || true" EXIT
fi

if [ ! -e "$image/ready" ]; then
  echo "vmtest: building the guest image in $image (network needed, about 2 minutes)" >&2
  start=$SECONDS
  [ -x "$host_python" ] || fail "$host_python is missing: run 'make venv' first"
  # Wheels for the guest's Python (3.13), fetched with the host's pip and
  # its settings; pyfuse3 is Debian's (it has no wheel).
  wheels=$cache/wheels-$key
  rm -rf "$wheels"
  # shellcheck disable=SC2086
  "$host_python" -m pip download -q --only-binary=:all: --python-version 3.13 --dest "$wheels" \
    $(printf '%s\n' $requirements | grep -v '^pyfuse3') >"$cache/pip.log" 2>&1 \
    || { tail -n 20 "$cache/pip.log" >&2; fail "cannot download the guest's wheels"; }
  rm -rf "$image.tmp"
  bash tests/vm/image.sh "$image.tmp" "$requirements" "$wheels" \
    || fail "the guest image could not be built"
  rm -rf "$wheels"
  rm -rf "$image"
  mv "$image.tmp" "$image"
  echo "vmtest: guest image built in $((SECONDS - start)) s" >&2
fi

rm -rf "$results"
mkdir -p "$results"
echo "vmtest: booting the guest (QEMU, software emulation)" >&2
start=$SECONDS
set +e
timeout --kill-after=10 "$timeout" "$qemu" -accel tcg -cpu max -smp 1 -m 3072 \
  -nodefaults -display none -no-reboot \
  -serial "file:$results/serial.log" \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 quiet loglevel=4 systemd.show_status=0 panic=-1" \
  -drive "file=$image/rootfs.img,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$run,mount_tag=share,security_model=none,id=share" \
  -device virtio-rng-pci
qemu_rc=$?
set -e
echo "vmtest: the guest ran for $((SECONDS - start)) s" >&2
if [ -n "$corpus_pid" ]; then
  wait "$corpus_pid" 2>/dev/null || true
  trap - EXIT
  if [ "$(cat "$run/corpus-rc" 2>/dev/null)" = 0 ]; then
    echo "vmtest: corpus discs made in the background" >&2
  else
    tail -n 40 "$run/corpus.log" >&2
    fail "the corpus discs could not be made (tests/vm/corpus_images.py; log above)"
  fi
fi
cp -r "$run/out/." "$results/" 2>/dev/null || true

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  echo "vmtest: the guest did not finish within $timeout s; the end of its console:" >&2
  tail -n 60 "$results/serial.log" >&2
  exit 1
fi
if [ ! -s "$results/rc" ]; then
  echo "vmtest: the guest's tests never reported (QEMU exited $qemu_rc); the end of its console:" >&2
  tail -n 60 "$results/serial.log" >&2
  exit 1
fi
rc=$(cat "$results/rc")
if [ "$rc" != 0 ]; then
  echo "vmtest: the guest's tests failed ($rc); the end of their log ($results/guest.log):" >&2
  tail -n 80 "$results/guest.log" >&2
  echo "vmtest: the end of the guest's console ($results/serial.log):" >&2
  tail -n 30 "$results/serial.log" >&2
  exit 1
fi
tail -n 3 "$results/guest.log"
echo "vmtest: passed in $SECONDS s (the whole lane); logs in $results" >&2
