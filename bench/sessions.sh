#!/usr/bin/env bash
# Agent-state benchmark (issue 5): runs build/bench/bench_sessions on a
# fresh store and puts its table into docs/BENCHMARKS.md, between the
# "agent-state" markers (added at the end the first time).
set -eu
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-docs/BENCHMARKS.md}
dir=$(mktemp -d /tmp/careti-bench-sessions.XXXXXX)
trap 'rm -rf "$dir"' EXIT
rows=$(build/bench/bench_sessions "$dir")
section=$(cat <<MD
<!-- agent-state -->
## Agent state (sessions store)

Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load average $(cut -d' ' -f1 /proc/loadavg) at the start, by \`bench/sessions.sh\` (\`make bench\`).

| measure | result | target |
|---|---|---|
$rows

A turn is planned from the daemon's in-memory copy of the session (it is
the database's only writer); the cold row is the first turn after a
restart, which reads the session from SQLite first.  Writes run on the
thread pool, so the loop's 1 ms timer keeps its time while they do.
<!-- /agent-state -->
MD
)
echo "$section"
[ "$OUT" = - ] && exit 0
if [ -f "$OUT" ] && grep -q '<!-- agent-state -->' "$OUT"; then
    awk -v s="$section" '
        /<!-- agent-state -->/ { print s; skip = 1; next }
        /<!-- \/agent-state -->/ { skip = 0; next }
        !skip { print }' "$OUT" > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
else
    printf '\n%s\n' "$section" >> "$OUT"
fi
