#!/usr/bin/env bash
# One daemon per state directory: a second one on another socket but the
# same daemon.state_dir is refused before it opens the sessions database,
# and says which daemon has it and what to change.
. "$(dirname "$0")/lib.sh"

C="$T/c.yaml"
write_config "$C" "daemon:" "  state_dir: $T/state"
check "first daemon starts" start_daemon "$T/a" "$C"
FIRST=$DPID
wait_store_open "$T/a/caretid.sock"

# second DIR: start a daemon on DIR's socket; sets CODE (124 if it serves
# instead of exiting) and OUT, its log.
second() {
    mkdir -p -m 700 "$1"
    $WRAPPER "$CARETID" -c "$C" --socket "$1/caretid.sock" > "$1/log" 2>&1 &
    local pid=$!
    DAEMON_PIDS+=("$pid")
    if wait_ready "$1/caretid.sock" "$pid"; then
        kill -TERM "$pid"
        wait "$pid"
        CODE=124
    else
        wait "$pid"
        CODE=$?
    fi
    OUT=$(cat "$1/log")
}
second "$T/b"
out=$OUT
expect_eq "a second daemon sharing the state directory exits 1" "$CODE" 1
expect_contains "naming the running one, its socket and the directory" "$out" \
    "another caretid (pid $FIRST, serving $T/a/caretid.sock) is already using the state directory $T/state"
expect_contains "and the fix" "$out" "give this one its own daemon.state_dir (in $C)"
expect_not_contains "it never opened the database" "$out" "interrupted replies recovered"
[ "$CODE" = 124 ] || check "nor left a socket" test ! -e "$T/b/caretid.sock"
expect_eq "the first daemon still serves" "$(curl -s --unix-socket "$T/a/caretid.sock" http://x/careti/v1/health)" '{"status":"ok"}'

out=$($WRAPPER "$CARETID" -c "$C" --socket "$T/a/caretid.sock" 2>&1)
expect_contains "on the same socket the socket's refusal comes first" "$out" \
    "another caretid (pid $FIRST) is already serving $T/a/caretid.sock"
expect_not_contains "and it never opened the database either" "$out" "interrupted replies recovered"

stop_daemon "$FIRST"
check "once the first has stopped, the second may use the directory" start_daemon "$T/c" "$C"
stop_daemon "$DPID"
finish
