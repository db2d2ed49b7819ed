#!/bin/bash
# Build the lab VM image: a Debian 13 root file system that looks like a freshly rented VPS,
# packed into a qcow2 disk, plus the kernel and initrd for QEMU's direct kernel boot.
#
# Usage: build-vm-image.sh OUT_DIR AUTHORIZED_KEY HOST_KEY_DIR
#   OUT_DIR         empty directory; receives disk.qcow2, vmlinuz and initrd.img
#   AUTHORIZED_KEY  public key file installed as root's authorized_keys
#   HOST_KEY_DIR    directory with ssh_host_*_key{,.pub} to install as sshd host keys
#
# This file is the definition of the image: lab/vm.py hashes it to name the image directory,
# so any change here leads to a rebuild.
set -euo pipefail

SUITE=trixie
# The Debian mirrors: this machine's own apt configuration (lab/vm.py reads it), or
# VSCODE_LAB_APT_MIRROR / VSCODE_LAB_APT_SECURITY_MIRROR.
MIRROR=${LAB_APT_MIRROR:?set by lab/vm.py}
SECURITY_MIRROR=${LAB_APT_SECURITY_MIRROR:?set by lab/vm.py}
DISK_SIZE=12G
# A fresh VPS: systemd, sshd and python3.
PACKAGES=systemd,systemd-sysv,openssh-server,python3,dbus,udev,iproute2,ca-certificates,curl,linux-image-amd64
# What the lab adds to it (lab/vps-fixtures.sh configures them at the first boot): an nginx
# that already serves someone else's site, and the ACME and DNS stand-ins (pebble ships
# pebble-challtestsrv). In the image rather than installed at each run: about 100 s of apt
# under emulation, on every lab run.
PACKAGES=$PACKAGES,nginx,openssl,pebble
# The guest boots from virtio disk and network, so these must be in the initrd or built in.
BOOT_MODULES="virtio_pci virtio_blk virtio_net"

log() { echo "[lab] $*" >&2; }
die() { log "error: $*"; exit 1; }
# Runs a command and shows its output only if it fails.
quietly() {
    local output
    output=$("$@" 2>&1) || { echo "$output" >&2; die "failed: $*"; }
}

[ $# -eq 3 ] || die "usage: $0 OUT_DIR AUTHORIZED_KEY HOST_KEY_DIR"
out=$(realpath "$1")
authorized_key=$2
host_key_dir=$3
rootfs=$out/rootfs

# debootstrap mounts /proc and /sys inside the root file system. If it is interrupted those
# mounts stay behind on the host, and deleting the tree later would walk into them.
unmount_rootfs() {
    awk -v prefix="$rootfs/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r mountpoint; do umount -l "$mountpoint" || true; done
}

trap unmount_rootfs EXIT
# Turn termination into a normal exit so that the EXIT trap runs.
trap 'exit 143' TERM
trap 'exit 130' INT

# Prints the only /boot/$1-* file; a second kernel would make the choice ambiguous.
boot_file() {
    local files=("$rootfs/boot/$1"-*)
    [ ${#files[@]} -eq 1 ] && [ -f "${files[0]}" ] || die "expected exactly one /boot/$1-*"
    echo "${files[0]}"
}

check_tools() {
    local tool
    for tool in debootstrap mkfs.ext4 qemu-img chroot; do
        command -v "$tool" >/dev/null ||
            die "$tool not found (apt-get install debootstrap e2fsprogs qemu-utils)"
    done
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
}

run_debootstrap() {
    log "debootstrap $SUITE from $MIRROR (about 2-3 min)..."
    if ! debootstrap --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$rootfs" "$MIRROR" >"$out/debootstrap.log" 2>&1; then
        tail -n 40 "$out/debootstrap.log" "$rootfs/debootstrap/debootstrap.log" 2>/dev/null >&2
        die "debootstrap failed"
    fi
    rm "$out/debootstrap.log"
}

configure_system() {
    log "configuring the VPS..."
    echo vps >"$rootfs/etc/hostname"
    cat >"$rootfs/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	vps
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
    echo '/dev/vda / ext4 defaults 0 1' >"$rootfs/etc/fstab"
    # debootstrap copied the host's resolver; 10.0.2.3 is QEMU user networking's DNS.
    rm -f "$rootfs/etc/resolv.conf"
    echo 'nameserver 10.0.2.3' >"$rootfs/etc/resolv.conf"

    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp
EOF

    cat >"$rootfs/etc/systemd/network/20-wired.network" <<'EOF'
[Match]
Name=en*

[Network]
DHCP=yes
EOF
    # /proc is not mounted in the chroot: systemctl warns about it, yet enables units fine.
    quietly chroot "$rootfs" systemctl enable systemd-networkd.service serial-getty@ttyS0.service
    chroot "$rootfs" passwd --quiet --lock root
    # Only the package archives: keep the apt lists so the image stays like a fresh install.
    chroot "$rootfs" apt-get clean
}

configure_ssh() {
    log "installing ssh keys..."
    cat >"$rootfs/etc/ssh/sshd_config.d/lab.conf" <<'EOF'
# Like a freshly rented VPS: root logs in with a key, never with a password.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
EOF
    install -d -m 700 "$rootfs/root/.ssh"
    install -m 600 "$authorized_key" "$rootfs/root/.ssh/authorized_keys"
    # Host keys come from the lab cache so they survive image rebuilds: a known_hosts entry
    # written by a tool (pyinfra defaults to accept-new) stays valid.
    rm -f "$rootfs"/etc/ssh/ssh_host_*
    install -m 600 "$host_key_dir"/ssh_host_*_key "$rootfs/etc/ssh/"
    install -m 644 "$host_key_dir"/ssh_host_*_key.pub "$rootfs/etc/ssh/"
}

check_boot_modules() {
    local initrd contents builtin module
    initrd=$(boot_file initrd.img)
    contents=$(chroot "$rootfs" lsinitramfs "${initrd#"$rootfs"}")
    builtin=$(cat "$rootfs"/usr/lib/modules/*/modules.builtin)
    for module in $BOOT_MODULES; do
        grep -qE "/$module\.ko(\.[a-z]+)?$" <<<"$contents" ||
            grep -qE "/$module\.ko$" <<<"$builtin" ||
            die "$module is neither in the initrd nor built into the kernel"
    done
}

make_disk() {
    log "copying out kernel and initrd..."
    cp "$(boot_file vmlinuz)" "$out/vmlinuz"
    cp "$(boot_file initrd.img)" "$out/initrd.img"

    log "mkfs.ext4 -d on a $DISK_SIZE sparse file..."
    unmount_rootfs
    ! grep -q " $rootfs/" /proc/self/mountinfo || die "could not unmount everything in $rootfs"
    truncate -s "$DISK_SIZE" "$out/disk.raw"
    mkfs.ext4 -q -L root -d "$rootfs" "$out/disk.raw"
    log "qemu-img convert to qcow2..."
    qemu-img convert -O qcow2 "$out/disk.raw" "$out/disk.qcow2"
    rm "$out/disk.raw"
    rm -rf "$rootfs"
}

check_tools
run_debootstrap
configure_system
configure_ssh
check_boot_modules
make_disk
