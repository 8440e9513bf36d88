#!/usr/bin/env bash
# One process of `make run` (a Procfile entry): runs the command and, when it exits on its own, says so (name, exit
# code, time) and starts it again, so one process's crash never silently takes web, worker and beat down with it.
# Five exits within a minute: it gives up, says why, and exits (honcho then stops the rest, having said why too).
# SIGTERM/SIGINT (Ctrl-C, honcho stopping) are passed to the command, which is then not restarted.
# Usage: scripts/respawn.sh <name> <command> [args...]
set -uo pipefail
name="$1"
shift
child=""
stopping=""
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
exits=()
while :; do
  "$@" &
  child=$!
  wait "$child"
  rc=$?
  # A trapped signal ends `wait` early: wait for the command's own exit.
  while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    rc=$?
  done
  [ -n "$stopping" ] && exit 0
  now=$(date +%s)
  recent=()
  for t in "${exits[@]}"; do [ $((now - t)) -lt 60 ] && recent+=("$t"); done
  exits=("${recent[@]}" "$now")
  if [ "${#exits[@]}" -ge 5 ]; then
    echo "respawn: $name exited with code $rc, the 5th time within a minute; giving up (the other processes stop too)" >&2
    exit "$rc"
  fi
  echo "respawn: $name exited with code $rc at $(date -u +%H:%M:%SZ); starting it again in 2 s" >&2
  sleep 2
  [ -n "$stopping" ] && exit 0
done
