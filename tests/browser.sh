#!/usr/bin/env bash
# Installs Debian's Chromium for the HTML report's browser test (tests/reports/test_gallery_browser.py),
# unless a Chromium is there already. Playwright drives it; it never downloads a browser itself.
set -euo pipefail
for candidate in "${KBATCH_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    exit 0
  fi
done
if ! command -v apt-get >/dev/null; then
  echo "tests/browser.sh: no Chromium and no apt-get: install Chromium, or set KBATCH_CHROMIUM" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
echo "tests/browser.sh: installing Debian's chromium for the HTML report test" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
