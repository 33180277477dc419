#!/usr/bin/env bash
# Runs a fuzz target's replay binary ($1) over the inputs that follow (its seed corpus and
# kept crash inputs). Fails if there are none, so an empty glob cannot pass silently.
set -euo pipefail
binary="$1"
shift
if [ "$#" -eq 0 ]; then
  echo "replay_test: no inputs for $binary" >&2
  exit 1
fi
exec "$binary" "$@"
