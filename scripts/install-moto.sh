#!/usr/bin/env bash
#! Installs moto's server mode (the RDS emulator the integration tests talk to) into a
#! Python venv under target/, so a fresh clone needs nothing but python3 and network access
#! to PyPI. Idempotent: a venv that already has moto_server is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MOTO_VENV:-$root/target/moto-venv}"
if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c 'import moto, boto3' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.2,<6' 'boto3>=1.34,<2'
"$venv/bin/moto_server" --help >/dev/null
