"""How this project starts Chromium (the end-to-end suite and `make screenshots` alike)."""

import os

# Debian's Chromium: a test tool's own browser download does not work on this machine.
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
# Headless as root, with no background traffic to Google's hosts (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
