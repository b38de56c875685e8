#!/usr/bin/env bash
# The code-tasks example: capture the corpus, build a world model from it, play against it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
WMH="${WMH:-wmh}"

usage() {
  echo "usage: $(basename "$0") capture [--seed N] [--traces N] [--out PATH] | build | play" >&2
}

case "${1:-}" in
  capture)
    shift
    exec "$PYTHON" "$HERE/capture.py" "$@"
    ;;
  build)
    exec $WMH build --name code-tasks --file "$HERE/traces.otel.jsonl" --root "$HERE"
    ;;
  play)
    exec $WMH play --name code-tasks --root "$HERE"
    ;;
  *)
    usage
    exit 2
    ;;
esac
