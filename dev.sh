#!/usr/bin/env bash
# fleet's two set-up-and-go commands for a fresh clone (see README):
#   ./dev.sh demo            install what is needed, then run `fleet demo`
#   ./dev.sh test [ARGS…]    install what is needed, then run the whole test suite (pytest ARGS)
# Anything else is passed to fleet inside the project's venv:  ./dev.sh fleet plan …
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}

setup() {
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
  fi
  # Reinstall only when the dependency list changed.
  local stamp=.venv/.fleet-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,sim]'
    echo "$want" > "$stamp"
  fi
  if [ ! -f node_modules/azurite/dist/src/blob/main.js ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
  demo)
    setup
    exec .venv/bin/fleet demo "$@"
    ;;
  test)
    setup
    exec .venv/bin/python -m pytest "$@"
    ;;
  fleet)
    setup
    exec .venv/bin/fleet "$@"
    ;;
  *)
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
