#!/usr/bin/env bash
# `manage.py compilemessages` (locale/*.po -> .mo, run by `make run` and `make test`) needs GNU
# gettext's msgfmt; install Debian's package when it is missing.
set -euo pipefail
if command -v msgfmt >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "msgfmt (GNU gettext) is missing and apt-get is not available: install gettext." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "Installing gettext for the translations..."
$SUDO apt-get update -qq
# `env` inside sudo: sudo drops variables set in front of it, and apt would ask questions.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
if ! command -v msgfmt >/dev/null 2>&1; then
  echo "apt-get installed gettext, but msgfmt is still missing." >&2
  exit 1
fi
