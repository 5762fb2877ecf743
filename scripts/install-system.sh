#!/usr/bin/env bash
# Install the system packages OneMap needs, and only those that are missing. Quick when all are present.
#   scripts/install-system.sh          packages to run the product
#   scripts/install-system.sh --test   ... plus those the test suite needs (Chromium)
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pg=${PG_VERSION:-15}
runtime=(postgresql-$pg postgresql-$pg-postgis-3 postgresql-$pg-pgrouting cgi-mapserver mapserver-bin
         fonts-noto-cjk gdal-bin mosquitto util-linux)  # util-linux: setpriv (mapserver/fcgi.py)
testing=(chromium redis-server)
pkgs=("${runtime[@]}")
[ $want_test = 1 ] && pkgs+=("${testing[@]}")

if [ ! -r /etc/debian_version ] || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "error: this is not a Debian/Ubuntu system; install these yourself and re-run:" >&2
  echo "  PostgreSQL $pg with PostGIS 3 and pgRouting, MapServer 8 (mapserv CGI + shp2img/map2img), GDAL command-line tools, Mosquitto, Noto CJK fonts${want_test:+, Chromium}" >&2
  echo "  (or set DATABASE_URL to an existing PostGIS and SKIP_SYSTEM_INSTALL=1)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "error: missing system packages and not root; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian's postgresql package creates and starts a system cluster; OneMap runs its own, so leave that one alone.
