#!/usr/bin/env bash
# One daemon per socket, decided by the kernel's lock, never by guessing.
. "$(dirname "$0")/lib.sh"

write_config "$T/c.yaml" "daemon:" "  log_level: info"
check "first daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
FIRST=$DPID

out=$($WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$S" 2>&1)
code=$?
expect_eq "second daemon on the same socket exits 1" "$code" 1
expect_contains "second daemon names the running one" "$out" "another caretid (pid $FIRST) is already serving $S"
check "the live socket was not removed" test -S "$S"
expect_eq "the first daemon still serves" "$(curl -s --unix-socket "$S" http://x/careti/v1/health)" '{"status":"ok"}'

kill -KILL "$FIRST"
wait "$FIRST" 2>/dev/null
check "a crashed daemon leaves its socket file" test -S "$S"
check "a new daemon replaces the stale socket" start_daemon "$T/d" "$T/c.yaml"
expect_eq "and serves on it" "$(curl -s --unix-socket "$S" http://x/careti/v1/health)" '{"status":"ok"}'
check "it stops cleanly" stop_daemon "$DPID"

# Two daemons started at the same instant: exactly one may come up.
mkdir -m 700 "$T/race"
for i in 1 2 3 4; do
    $WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$T/race/s.sock" > "$T/race/log$i" 2>&1 &
    eval "RACE$i=\$!"
    DAEMON_PIDS+=("$!")
done
wait_ready "$T/race/s.sock" "$RACE1" || wait_ready "$T/race/s.sock" "$RACE2" || true
alive=0
failed_with_message=0
for i in 1 2 3 4; do
    eval "pid=\$RACE$i"
    # A loser logs why, then exits (slowly under sanitizers): wait for
    # its exit; a winner logs "caretid VERSION serving".
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || break
        grep -q "caretid [0-9.]* serving" "$T/race/log$i" && break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        alive=$((alive + 1))
        winner=$pid
    elif grep -q "another caretid" "$T/race/log$i"; then
        failed_with_message=$((failed_with_message + 1))
    fi
done
expect_eq "of four simultaneous daemons exactly one runs" "$alive" 1
expect_eq "the other three say which one runs" "$failed_with_message" 3
out=$("$CARETICTL" --socket "$T/race/s.sock" status --json)
expect_contains "the socket belongs to the survivor" "$out" "\"pid\": $winner"
# It holds the state directory too (21_state_lock.sh): the daemons below need it.
stop_daemon "$winner"

# A socket directory open to others is refused with the fix.
mkdir -m 755 "$T/open"
out=$($WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$T/open/s.sock" 2>&1)
expect_eq "a group/world-readable socket directory is refused" "$?" 1
expect_contains "the refusal says how to fix it" "$out" "chmod 700 $T/open"

# A missing directory is made private.
$WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$T/new/sub/s.sock" > "$T/newlog" 2>&1 &
DPID=$!
DAEMON_PIDS+=("$DPID")
check "missing socket directories are created" wait_ready "$T/new/sub/s.sock" "$DPID"
expect_eq "a created directory is 0700" "$(stat -c %a "$T/new/sub")" 700
stop_daemon "$DPID"

finish
