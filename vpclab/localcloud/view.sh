#!/bin/sh
# Give one local host its own view of the filesystem, then exec its init command.
#
# Usage: view.sh HOST_DIR HOSTNAME COMMAND [ARG...]
# Runs as PID 1 of a fresh mount/UTS/PID namespace (made by `unshare`), inside the host's
# network namespace. Every write the host makes lands under HOST_DIR: the machine's real
# files are only ever lower layers of an overlay or hidden behind a bind mount.
set -eu

H=$1
NAME=$2
shift 2

# Reach the host folder through a private mount point first: HOST_DIR may live under a
# folder this script is about to cover (/tmp, /root, /home), and then its path would vanish.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir /run/.vpclab-host
mount --bind "$H" /run/.vpclab-host
H=/run/.vpclab-host

# The kit (VPCLAB_KIT: folders, colon-separated) may sit under a folder the view replaces:
# keep a handle on each now, and show it read-only at its real path once the view is ready.
i=0
for k in $(echo "${VPCLAB_KIT:-}" | tr ':' ' '); do
    i=$((i + 1))
    mkdir -p "/run/.vpclab-kit/$i"
    mount --bind "$k" "/run/.vpclab-kit/$i"
done

for d in etc var usr; do
    mount -t overlay overlay \
        -o "lowerdir=/$d,upperdir=$H/upper/$d,workdir=$H/work/$d" "/$d"
done

for d in home root opt srv; do
    mount --bind "$H/$d" "/$d"
done
mount --bind "$H/log" /var/log

mkdir -p /run/sshd /run/lock
chmod 0755 /run/sshd
chmod 1777 /run/lock
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount --bind "$H/tmp" /tmp

i=0
for k in $(echo "${VPCLAB_KIT:-}" | tr ':' ' '); do
    i=$((i + 1))
    mkdir -p "$k"
    mount --bind "/run/.vpclab-kit/$i" "$k"
    mount -o remount,bind,ro "$k"
    umount "/run/.vpclab-kit/$i"
done
rm -rf /run/.vpclab-kit

# The overlays and binds hold their own references; the staging mount is no longer needed.
umount /run/.vpclab-host
rmdir /run/.vpclab-host

hostname "$NAME"

# User data, like cloud-init: once per instance, as root, after the view is ready, while
# sshd starts. The marker is written first, so a reboot never reruns it even after a failure.
UD=/var/lib/cloud/instance
if [ -f "$UD/user-data.txt" ] && [ ! -e "$UD/sem/user-data" ]; then
    mkdir -p "$UD/sem"
    date -u +%s > "$UD/sem/user-data"
    (
        cd /
        rc=0
        if head -c 2 "$UD/user-data.txt" | grep -q '^#!'; then
            cp "$UD/user-data.txt" "$UD/scripts/part-001"
            chmod 0700 "$UD/scripts/part-001"
            env -i HOME=/root LANG=C.UTF-8 \
                PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                "$UD/scripts/part-001" || rc=$?
        else
            echo "vpclab: user data is not a shell script (no #!); skipped"
        fi
        echo "vpclab: user data finished with exit status $rc"
        echo "$rc" > "$UD/user-data.rc"
        touch "$UD/boot-finished"
    ) </dev/null >>/var/log/cloud-init-output.log 2>&1 &
else
    touch "$UD/boot-finished"
fi

exec "$@"
