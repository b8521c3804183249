#!/usr/bin/env bash
# Builds the guest image of the VM test lane (tests/vm/run.sh, `make vmtest`):
# a Debian trixie system from Debian's packages, with its kernel, systemd,
# udev, xorriso, FUSE, Python and CDEmu (vhba-dkms, cdemu-daemon,
# cdemu-client from contrib; DKMS builds vhba for the guest's kernel inside
# the chroot).  cdfs' Python dependencies are Debian's where Debian has the
# version pyproject.toml asks for, else the wheels run.sh downloaded on the
# host, installed here offline into /opt/cdfs (a venv that sees Debian's
# packages): the guest has no network.
#
# Usage: image.sh OUTDIR "REQUIREMENT..." WHEELDIR   (root; needs network)
# Writes OUTDIR/{rootfs.img,vmlinuz,initrd.img} and OUTDIR/ready last.
set -euo pipefail

out=$1
requirements=$2
wheels=$3
suite=trixie
mirror=${CDFS_VM_MIRROR:-http://deb.debian.org/debian}
# Debian packages of the guest (main and contrib).
packages="linux-image-amd64 linux-headers-amd64 initramfs-tools xorriso fuse3
  python3 python3-venv python3-pip python3-pyfuse3 python3-gi
  cdemu-daemon cdemu-client vhba-dkms dbus-daemon dbus-user-session
  util-linux mount e2fsprogs procps psmisc kmod udev systemd-sysv"

root=$out/root
rm -rf "$out"
mkdir -p "$root"
cleanup() {
  for m in dev/pts dev proc sys; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
  return 0
}
trap cleanup EXIT

echo "image: debootstrap $suite" >&2
debootstrap --variant=minbase --components=main,contrib \
  --include=systemd,systemd-sysv,udev,dbus,kmod,ca-certificates \
  "$suite" "$root" "$mirror" >"$out/debootstrap.log" 2>&1 \
  || { tail -n 30 "$out/debootstrap.log" >&2; exit 1; }

mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

printf '%s\n' "deb $mirror $suite main contrib" >"$root/etc/apt/sources.list"
# No recommends, and no docs or translations: a smaller image, built faster.
cat >"$root/etc/dpkg/dpkg.cfg.d/01-vmtest" <<'CFG'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
CFG
echo 'initramfs-tools initramfs-tools/driver-policy select dep' >/dev/null
mkdir -p "$root/etc/initramfs-tools/conf.d"
echo 'MODULES=most' >"$root/etc/initramfs-tools/conf.d/vmtest"

echo "image: apt-get install" >&2
in_root apt-get update -qq >>"$out/apt.log" 2>&1
# The kernel and its headers first, so that DKMS builds vhba for it.
in_root apt-get install -y -qq --no-install-recommends linux-image-amd64 linux-headers-amd64 \
  initramfs-tools >>"$out/apt.log" 2>&1 || { tail -n 30 "$out/apt.log" >&2; exit 1; }
# shellcheck disable=SC2086
in_root apt-get install -y -qq --no-install-recommends $packages >>"$out/apt.log" 2>&1 \
  || { tail -n 30 "$out/apt.log" >&2; exit 1; }
kver=$(basename "$(ls -d "$root"/lib/modules/*/ | sort -V | tail -n 1)")
if ! find "$root/lib/modules/$kver" -name 'vhba.ko*' | grep -q .; then
  vhba=$(ls "$root/usr/src" | sed -n 's/^vhba-//p' | head -n 1)
  in_root dkms install "vhba/$vhba" -k "$kver" >>"$out/apt.log" 2>&1 \
    || { tail -n 30 "$out/apt.log" >&2; exit 1; }
fi
find "$root/lib/modules/$kver" -name 'vhba.ko*' | grep -q . \
  || { echo "image: DKMS built no vhba module for $kver" >&2; exit 1; }
in_root depmod "$kver"

echo "image: Python packages" >&2
in_root python3 -m venv --system-site-packages /opt/cdfs
mkdir -p "$root/tmp/wheels"
cp "$wheels"/*.whl "$root/tmp/wheels/"
# shellcheck disable=SC2086
in_root /opt/cdfs/bin/pip install -q --no-cache-dir --no-index --find-links /tmp/wheels \
  $requirements >>"$out/pip.log" 2>&1 || { tail -n 30 "$out/pip.log" >&2; exit 1; }
rm -rf "$root/tmp/wheels"
# The compilers DKMS needed are not needed in the guest.
in_root apt-get clean

echo "image: system setup" >&2
echo cdfs-vm >"$root/etc/hostname"
in_root passwd -d root >/dev/null
# A user for the tests that run as one (the auto-mount unit): lingering,
# so that its systemd user manager runs from boot.
in_root useradd -m -u 1000 -G cdrom -s /bin/bash tester
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/tester"
echo user_allow_other >>"$root/etc/fuse.conf"
cat >"$root/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,relatime 0 1
share /mnt/share 9p trans=virtio,version=9p2000.L,msize=512000,nofail 0 0
FSTAB
mkdir -p "$root/mnt/share"
printf '9p\n9pnet_virtio\nvhba\nsr_mod\nloop\nisofs\nfuse\n' >"$root/etc/modules-load.d/vmtest.conf"
# The lane: run the share's guest script once the share is mounted, then
# power off whatever it returned (its result is in the share).
cat >"$root/etc/systemd/system/cdfs-vmtest.service" <<'UNIT'
[Unit]
Description=cdfs VM test lane
After=mnt-share.mount systemd-udevd.service multi-user.target user@1000.service
Requires=mnt-share.mount

[Service]
Type=oneshot
ExecStart=/bin/bash /mnt/share/guest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Install]
WantedBy=multi-user.target
UNIT
in_root systemctl enable cdfs-vmtest.service >/dev/null 2>&1
in_root systemctl mask systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_reap.service getty@tty1.service serial-getty@ttyS0.service >/dev/null 2>&1 || true
# CDEmu's D-Bus activation would start a second daemon on a call after a
# crash (and wait ~25 s): the lane starts the daemon itself.
rm -f "$root"/usr/share/dbus-1/services/net.sf.cdemu.CDEmuDaemon.service

cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
chmod 0644 "$out/vmlinuz" "$out/initrd.img"
cleanup
trap - EXIT
echo "image: mkfs.ext4" >&2
rm -rf "$root/boot"/*.old "$root/var/cache/apt"/*.bin
truncate -s 6G "$out/rootfs.img"
mkfs.ext4 -q -F -L cdfs-vm -d "$root" "$out/rootfs.img"
rm -rf "$root"
echo "$kver" >"$out/ready"
