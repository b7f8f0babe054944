#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (apt + pip), then runs every test.
# Extra arguments go to pytest, e.g. `bash tests/run-all.sh -k dialects`.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # tests/remotewrite/test_tls.py makes certs
# the native OTLP scanner (setup.py) is compiled by the editable install below
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need_apt+=(python3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
# The Debian packages start daemons where an init system exists; the tests start their own on free ports.
$SUDO pkill -x prometheus 2>/dev/null || true
$SUDO pkill -x prometheus-alertmanager 2>/dev/null || true

python3 -m pip install -q --disable-pip-version-check -e '.[test,kubernetes]'
# setup.py builds the C extensions and the mypyc-compiled per-span path as optional (a missing
# compiler is not an install error); here a missing llmpulse.otlp._scan, llmpulse.normalise._fields
# or mypyc build (llmpulse._compiled) fails the run instead of testing only the pure-Python code
export LLMPULSE_REQUIRE_NATIVE=1
python3 -c 'import llmpulse.otlp.scan, llmpulse.normalise'
exec python3 -m pytest "$@"
