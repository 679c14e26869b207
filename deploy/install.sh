#!/usr/bin/env bash
# Installs or updates the appliance ON a Raspberry Pi (run as root). Idempotent.
#   install.sh WHEEL [RELEASE_NAME]
# Raspberry Pi OS Bookworm (Python 3.11) and Trixie (3.13). Every path is under $APPLIANCE_ROOT (default
# /), so tests can install into a temporary directory; APPLIANCE_SKIP_SYSTEM=1 skips apt, users and
# ownership, and APPLIANCE_SERVICE_CMD replaces systemctl (it is called as: CMD ACTION).
set -euo pipefail

wheel=${1:?usage: install.sh WHEEL [RELEASE_NAME]}
root=${APPLIANCE_ROOT:-}
name=${2:-$(basename "$wheel" .whl | cut -d- -f2)-$(date -u +%Y%m%dT%H%M%SZ)}
base="$root/opt/appliance"
release="$base/releases/$name"
etc="$root/etc/appliance"
unit_dir="$root/etc/systemd/system"
here=$(cd "$(dirname "$0")" && pwd)

service() {  # service ACTION: systemctl, or the test seam
  if [ -n "${APPLIANCE_SERVICE_CMD:-}" ]; then $APPLIANCE_SERVICE_CMD "$1"; return; fi
  case "$1" in
    reload) systemctl daemon-reload ;;
    enable) systemctl enable appliance.service ;;
    restart) systemctl restart appliance.service ;;
  esac
}

if [ "${APPLIANCE_SKIP_SYSTEM:-0}" != 1 ]; then
  apt_packages=(python3-venv python3-dev gcc portaudio19-dev libasound2-plugins python3-lgpio python3-picamera2)
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  for group in audio gpio video; do getent group "$group" >/dev/null || groupadd --system "$group"; done
  if ! id appliance >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/appliance --shell /usr/sbin/nologin --user-group appliance
  fi
  usermod -a -G audio,gpio,video appliance
fi

# a new release: its own venv (seeing apt's picamera2 and lgpio), the wheel installed into it
mkdir -p "$base/releases"
# (venvs cannot be moved, so it is built in place; .complete marks a finished one)
if [ ! -f "$release/.complete" ]; then
  rm -rf "$release"
  mkdir -p "$release"
  python3 -m venv --system-site-packages "$release/venv"
  # shellcheck disable=SC2086
  "$release/venv/bin/pip" install --quiet ${APPLIANCE_PIP_ARGS:-} "$wheel"
  touch "$release/.complete"
fi

# switch `current` atomically, remembering the one before as `previous`
if [ -L "$base/current" ] && [ "$(readlink "$base/current")" != "$release" ]; then
  ln -sfn "$(readlink "$base/current")" "$base/previous.tmp" && mv -T "$base/previous.tmp" "$base/previous"
fi
ln -sfn "$release" "$base/current.tmp" && mv -T "$base/current.tmp" "$base/current"

# configuration: created once with safe permissions, never overwritten (systemd reads the env file as
# root, so the service user itself never needs to)
mkdir -p "$etc"
if [ ! -f "$etc/config.toml" ]; then
  "$release/venv/bin/appliance" config reference | sed 's/^\([a-z_]* =\)/# \1/' > "$etc/config.toml"
  chmod 0644 "$etc/config.toml"
fi
if [ ! -f "$etc/env" ]; then
  umask 077
  printf '# secrets for the appliance (mode 0600)\nOPENAI_API_KEY=\nELEVENLABS_API_KEY=\n' > "$etc/env"
  chmod 0600 "$etc/env"
fi

mkdir -p "$unit_dir"
install -m 0644 "$here/appliance.service" "$unit_dir/appliance.service"
service reload
service enable
service restart
echo "installed $name -> $base/current"
