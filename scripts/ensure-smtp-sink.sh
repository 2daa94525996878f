#!/usr/bin/env bash
# `make bench-send` measures against postfix's smtp-sink (a fast C sink that counts what it
# accepts) and beside postfix's smtp-source (the wire's limit); this installs postfix when they
# are missing (not configured as a mail server). Without them the benchmark stops and says so.
set -uo pipefail
if { command -v smtp-sink && command -v smtp-source; } >/dev/null 2>&1 \
  || { [ -x /usr/sbin/smtp-sink ] && [ -x /usr/sbin/smtp-source ]; }; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "smtp-sink and smtp-source not found, and no apt-get: install postfix to run bench-send." >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing postfix for its smtp-sink and smtp-source (not configured as a mail server)..."
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null \
  || echo "Could not install postfix: bench-send needs its smtp-sink and smtp-source." >&2
exit 0
