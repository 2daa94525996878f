#!/usr/bin/env bash
# The end-to-end tests and `make screenshots` drive Chromium at ${E2E_CHROMIUM:-/usr/bin/chromium}
# (e2e/browser.py); make sure that very file is there, installing Debian's package when it is not.
set -euo pipefail
CHROMIUM="${E2E_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ -n "${E2E_CHROMIUM:-}" ]; then
  # A browser of one's own choosing: installing Debian's would not put it there.
  echo "E2E_CHROMIUM=$E2E_CHROMIUM is not an executable file: point it at a Chromium binary or unset it." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$CHROMIUM is missing and apt-get is not available: install Chromium there, or set E2E_CHROMIUM." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "Installing chromium for the end-to-end tests..."
$SUDO apt-get update -qq
# `env` inside sudo: sudo drops variables set in front of it, and apt would ask questions.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "apt-get installed chromium, but $CHROMIUM is still missing." >&2
  exit 1
fi
