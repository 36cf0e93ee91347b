#!/bin/sh
# A local host's init: run its user data once, then exec its init command (sshd).
#
# Usage: hostinit.sh COMMAND [ARG...]
# Runs as PID 1 of the host's container (see hostoci.py): crun has already made its view of
# the filesystem, its hostname and its namespaces. It only adds what a booted machine has.
set -eu

mkdir -p /run/sshd /run/lock
chmod 0755 /run/sshd
chmod 1777 /run/lock

# User data, like cloud-init: once per instance, as root, while sshd starts. The marker is
# written first, so a reboot never reruns it even after a failure.
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
