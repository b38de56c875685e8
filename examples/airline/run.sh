#!/usr/bin/env bash
# airline: capture the corpus, build its world model, or play against it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WMH="${WMH:-wmh}"
# Capture needs a Python that can import wmh: $PYTHON, else the one behind `WMH="PY -m wmh"`
# (what `wmh examples run` sets), else python3.
if [[ -z "${PYTHON:-}" ]]; then
    if [[ "$WMH" == *" -m wmh" ]]; then PYTHON="${WMH% -m wmh}"; else PYTHON=python3; fi
fi

usage() {
    cat >&2 <<USAGE
usage: $(basename "$0") COMMAND [ARGS]
  capture [--seed N] [--traces N] [--out PATH]   record the scripted support agent
  build                                          build the world model from traces.otel.jsonl
  play                                           step the built world model interactively
USAGE
}

command="${1:-}"
[[ $# -gt 0 ]] && shift
case "$command" in
    capture) exec "$PYTHON" "$HERE/capture.py" "$@" ;;
    build) exec $WMH build --name airline --file "$HERE/traces.otel.jsonl" --root "$HERE" "$@" ;;
    play) exec $WMH play --name airline --root "$HERE" "$@" ;;
    *)
        usage
        exit 2
        ;;
esac
