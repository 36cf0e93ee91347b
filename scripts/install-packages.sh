#!/usr/bin/env bash
# Installs Debian packages on this machine without starting or enabling any of their services.
#
#   bash scripts/install-packages.sh PACKAGE|./file.deb ...     (as root)
#
# nginx, sshd, Prometheus and the rest are the local image: they run inside the local hosts
# only. Debian would start them on this machine, listening on 0.0.0.0, and enable them at boot.
# So while apt runs, policy-rc.d forbids every start (invoke-rc.d and deb-systemd-invoke obey
# it); afterwards each service the new packages ship is disabled, and masked where systemd
# is installed. Packages that were already installed are left as they are.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: install-packages.sh PACKAGE... (Debian package names or ./file.deb)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-packages: installing Debian packages needs root (run it with sudo)" >&2
  exit 1
fi

POLICY=/usr/sbin/policy-rc.d
saved=""
if [ -e "$POLICY" ]; then
  saved=$(mktemp)
  cp -p "$POLICY" "$saved"
fi
restore_policy() {
  if [ -n "$saved" ]; then mv -f "$saved" "$POLICY"; else rm -f "$POLICY"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# vpclab install-packages.sh: no service starts during this install\nexit 101\n' \
  > "$POLICY"
chmod 0755 "$POLICY"

installed() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 2>/dev/null | awk '$1 == "ii" { print $2 }' | sort; }

before=$(mktemp)
installed > "$before"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >/dev/null
new_packages=$(installed | comm -13 "$before" -)
rm -f "$before"

for pkg in $new_packages; do
  while read -r path; do
    case "$path" in
      /etc/init.d/*)
        # System V links: S (start) links become K (stop) links in every runlevel.
        update-rc.d "${path#/etc/init.d/}" disable >/dev/null 2>&1 || true
        ;;
      /lib/systemd/system/*.service | /usr/lib/systemd/system/*.service | \
      /lib/systemd/system/*.socket | /usr/lib/systemd/system/*.socket | \
      /lib/systemd/system/*.timer | /usr/lib/systemd/system/*.timer)
        unit=${path##*/}
        case "$unit" in *@.*) continue ;; esac  # templates: never enabled by themselves
        if command -v systemctl >/dev/null 2>&1; then
          systemctl disable --quiet "$unit" >/dev/null 2>&1 || true
          systemctl mask --quiet "$unit" >/dev/null 2>&1 || true
          echo "install-packages: $unit masked on this machine (undo: systemctl unmask $unit)"
        fi
        ;;
    esac
  done < <(dpkg -L "$pkg" 2>/dev/null)
done
