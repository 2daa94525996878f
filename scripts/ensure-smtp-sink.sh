#!/usr/bin/env bash
# `make bench-send` measures against postfix's smtp-sink (a fast C sink) where it can be had;
# without it the benchmark falls back to the Python aiosmtpd sink, which is then the bottleneck.
set -uo pipefail
if command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "smtp-sink not found and no apt-get: the benchmark will use the aiosmtpd sink." >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing postfix for its smtp-sink (not configured as a mail server)..."
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null \
  || echo "Could not install postfix: the benchmark will use the aiosmtpd sink." >&2
exit 0
