#!/bin/sh
# Installs the Debian packages the test suite uses when any is missing (as root, non-interactive).
# Services never start on install here (policy-rc.d); the tests start throwaway instances themselves.
set -eu
missing=""
need() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || missing="$missing $2"; }
need /usr/sbin/dovecot dovecot-imapd
need prometheus prometheus
need promtool prometheus
need prometheus-alertmanager prometheus-alertmanager
need amtool prometheus-alertmanager
need /usr/lib/postgresql/15/bin/postgres postgresql
need chromium chromium
need openssl openssl
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages:$missing (run as root to install)" >&2
  exit 0
fi
[ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
echo "installing:$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(echo $missing | tr ' ' '\n' | sort -u) >/dev/null
