#!/usr/bin/env bash
# The session database when the disk does not hold what the daemon thinks:
# deleted while the daemon runs, damaged, read-only.  Each must show as
# ready: false with the reason, session routes must answer 503 naming it
# and the fix, and no write may be reported as saved.
. "$(dirname "$0")/lib.sh"
CORRUPTDB="$ROOT/$BUILD/tools/corruptdb"

start_emu ollama O || exit 1
write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" \
    "providers:" "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "models:" "  coder: {provider: ollama, model: \"qwen3-coder:30b\"}" "defaults:" "  model: coder"
S="$T/d/caretid.sock"
DB="$T/state/careti.db"
sess() { curl -s -N --max-time 20 --unix-socket "$S" -w '\n%{http_code}' "$@"; }
state() { curl -s --max-time 5 --unix-socket "$S" http://x/careti/v1/status |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const t=JSON.parse(s).state;console.log(t.ready+" "+(t.error||""))})'; }
# wait_ready_state: the store's state once it has opened; prints it.
wait_ready_state() {
    wait_store_open "$S"
    state
}
# wait_not_ready: poll status (no request of ours writes meanwhile) until
# the daemon notices on its own, for at most 10 s; prints the last state.
wait_not_ready() {
    local st
    for _ in $(seq 1 200); do
        st=$(state)
        [[ "$st" == false* ]] && break
        sleep 0.05
    done
    echo "$st"
}

# 1. The state directory removed under a running daemon.
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
out=$(sess http://x/careti/v1/sessions -d '{"title":"before"}')
expect_contains "a session is created while the database is there (201)" "$out" $'\n201'
ID=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
expect_contains "status is ready" "$(wait_ready_state)" "true"
rm -rf "$T/state"
st=$(wait_not_ready)
expect_contains "status turns ready: false by itself once the database is deleted" "$st" \
    "false agent state: $DB was deleted"
expect_contains "and says what to do" "$st" "restart caretid"
out=$(sess http://x/careti/v1/sessions -d '{"title":"after"}')
expect_contains "a new session is refused (503), not reported created" "$out" $'\n503'
expect_contains "naming the file and the fix" "$out" "$DB was deleted"
out=$(sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"hello"}')
expect_contains "a turn is refused (503), not streamed as complete" "$out" $'\n503'
expect_not_contains "with no done event" "$out" '"status":"complete"'
out=$(sess http://x/careti/v1/sessions)
expect_contains "the list is refused too (503)" "$out" $'\n503'
expect_eq "the log says it once, at error level" \
    "$(grep -c "caretid\[error\] agent state: $DB was deleted" "$T/d/log")" 1
check "daemon stops" stop_daemon "$DPID"
check "daemon starts again" start_daemon "$T/d" "$T/c.yaml"
expect_contains "a restart creates a new database and is ready" "$(wait_ready_state)" "true"
out=$(sess http://x/careti/v1/sessions -d '{"title":"again"}')
expect_contains "and stores sessions again (201)" "$out" $'\n201'
ID=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)

# 1b. Deleted while a reply streams: the reply's last write fails, and
# the turn must not end "complete".
emu "$O_PORT" /_emu/fault '{"slow_ms":150,"count":1}' > /dev/null
sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"a slow one"}' > "$T/slow.out" &
turn=$!
for _ in $(seq 1 100); do grep -q 'event: delta' "$T/slow.out" 2>/dev/null && break; sleep 0.05; done
rm -rf "$T/state"
wait "$turn"
out=$(cat "$T/slow.out")
done_event=$(grep -A1 '^event: done' "$T/slow.out" | tail -n1)
expect_not_contains "a reply whose database vanished mid-turn is not reported complete" "$done_event" '"status":"complete"'
expect_contains "its done event says error" "$done_event" '"status":"error"}'
expect_contains "and why" "$out" 'the reply could not be saved'
check "daemon stops" stop_daemon "$DPID"
check "daemon starts once more" start_daemon "$T/d" "$T/c.yaml"

# 2. The database file replaced by another while the daemon runs: the next
# write is refused before it goes to the old file.
cp "$DB" "$T/copy.db"
mv "$T/copy.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
out=$(sess http://x/careti/v1/sessions -d '{"title":"lost"}')
expect_contains "a write after the file was replaced is refused (503)" "$out" $'\n503'
expect_contains "naming the replacement" "$out" "was deleted or replaced"
check "daemon stops" stop_daemon "$DPID"

# 3. A damaged database: every session route says so, status and doctor
# say so with the fix, nothing reads as "no such session".
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
out=$(sess http://x/careti/v1/sessions -d '{"title":"doomed"}')
ID=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
check "daemon stops" stop_daemon "$DPID"
page=$("$CORRUPTDB" "$DB" sessions)
check "the sessions table is damaged on disk (page $page)" test -n "$page"
check "daemon starts on a damaged database" start_daemon "$T/d" "$T/c.yaml"
st=$(wait_ready_state)
expect_contains "status says ready: false, from quick_check" "$st" "false agent state: $DB is damaged"
expect_contains "with the recovery command" "$st" "sqlite3 $DB .recover | sqlite3"
out=$(sess http://x/careti/v1/sessions/"$ID")
expect_contains "the session is not reported missing: 503" "$out" $'\n503'
expect_not_contains "(no \"no session\")" "$out" "no session"
expect_contains "naming the damage" "$out" "is damaged"
out=$(sess http://x/careti/v1/sessions)
expect_contains "the list does not pretend to be whole (503)" "$out" $'\n503'
out=$("$CARETICTL" --socket "$S" doctor)
expect_eq "caretictl doctor fails" "$?" 1
expect_contains "with an agent state check" "$out" "fail agent state"
expect_contains "and its fix" "$out" "fix: stop caretid"
check "daemon stops" stop_daemon "$DPID"

# 4. A read-only database.  Root writes a 0400 file anyway, so as root the
# daemon runs without CAP_DAC_OVERRIDE, as an ordinary owner would.
rm -rf "$T/state"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
sess http://x/careti/v1/sessions -d '{"title":"kept"}' > /dev/null
check "daemon stops" stop_daemon "$DPID"
chmod 0400 "$DB"
SAVED_WRAPPER=$WRAPPER
if [ "$(id -u)" = 0 ]; then
    WRAPPER="setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search -- $WRAPPER"
fi
check "daemon starts on a read-only database" start_daemon "$T/d" "$T/c.yaml"
st=$(wait_ready_state)
expect_contains "status says ready: false: read-only" "$st" "false agent state: $DB is read-only"
out=$(sess http://x/careti/v1/sessions -d '{"title":"new"}')
expect_contains "a write is refused (503)" "$out" $'\n503'
check "daemon stops" stop_daemon "$DPID"
chmod 0600 "$DB"
chmod 0500 "$T/state"
check "daemon starts in a read-only directory" start_daemon "$T/d" "$T/c.yaml"
st=$(wait_ready_state)
expect_contains "status says ready: false there too" "$st" "false agent state:"
expect_contains "naming the directory" "$st" "$T/state"
check "daemon stops" stop_daemon "$DPID"
chmod 0700 "$T/state"
WRAPPER=$SAVED_WRAPPER
finish
