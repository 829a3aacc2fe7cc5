#!/usr/bin/env bash
# The request log keeps daemon.request_log_days days: rows aged on disk
# while the daemon is stopped are deleted by its first write after start,
# and request_log_days 0 keeps them.
. "$(dirname "$0")/lib.sh"
AGEROWS="$ROOT/$BUILD/tools/agerows"

start_emu ollama O || exit 1
config() { # DAYS
    write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" "  request_log_days: $1" \
        "providers:" "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}"
}
ask() {
    curl -s --unix-socket "$S" http://x/api/chat \
        -d '{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"x"}]}' > /dev/null
}
# requests SINCE: how many llama3.2 requests the log holds in that window
requests() {
    "$CARETICTL" --socket "$S" stats --since "$1" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models.find(e=>e.model==="llama3.2");console.log(m?m.requests:0)})'
}
S="$T/d/caretid.sock"

config 30
check "daemon starts with request_log_days 30" start_daemon "$T/d" "$T/c.yaml"
ask
ask
expect_eq "two requests are logged" "$(requests 1d)" 2
check "daemon stops" stop_daemon "$DPID"
expect_eq "the stopped daemon's two rows are moved 31 days back" \
    "$("$AGEROWS" "$T/state/careti.db" 31)" 2

check "daemon starts again" start_daemon "$T/d" "$T/c.yaml"
expect_eq "rows older than 30 days are still there before the first write" "$(requests 365d)" 2
ask
expect_eq "the first write deleted them and kept its own" "$(requests 365d)" 1
expect_contains "and the daemon says how many it removed" "$(cat "$T/d/log")" \
    "request log: 2 rows older than daemon.request_log_days removed"
check "daemon stops" stop_daemon "$DPID"

config 0
"$AGEROWS" "$T/state/careti.db" 400 > /dev/null
check "daemon starts with request_log_days 0" start_daemon "$T/d" "$T/c.yaml"
ask
expect_eq "request_log_days 0 keeps a 400-day-old row" "$(requests 1000d)" 2
check "daemon stops cleanly" stop_daemon "$DPID"
finish
