#!/usr/bin/env bash
#! Installs Debian's `chromium` (headless), which the run-report rendering test uses to take a
#! screenshot of the HTML report. Idempotent: an installed chromium is left alone. Needs root
#! (or passwordless sudo) and a Debian/Ubuntu apt; prints why and exits 1 otherwise.
#! `CHROMIUM` may name another binary (e.g. chromium-browser, google-chrome) to use instead.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] && command -v "$CHROMIUM" >/dev/null 2>&1; then
  exit 0
fi
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here; install chromium yourself (or set CHROMIUM=/path/to/chrome)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "install-chromium: needs root to run apt-get install chromium (or set CHROMIUM=/path/to/chrome)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh image has no package lists; an old list may name versions the mirror has dropped.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version
