#!/usr/bin/env bash
# Socket activation, readiness notification, and peer credentials.
. "$(dirname "$0")/lib.sh"

write_config "$T/c.yaml" "daemon:" "  log_level: info"

if command -v systemd-socket-activate > /dev/null; then
    mkdir -m 700 "$T/act"
    systemd-socket-activate -l "$T/act/caretid.sock" $WRAPPER "$CARETID" -c "$T/c.yaml" \
        > "$T/act/log" 2>&1 &
    APID=$!
    DAEMON_PIDS+=("$APID")
    for _ in $(seq 1 100); do [ -S "$T/act/caretid.sock" ] && break; sleep 0.05; done
    out=$(curl -s --max-time 10 --unix-socket "$T/act/caretid.sock" http://x/careti/v1/status)
    expect_contains "socket activation: the first request starts and reaches caretid" "$out" '"socket_activated":true'
    expect_contains "socket activation: status names the inherited socket" "$out" "\"socket\":\"$T/act/caretid.sock\""
    check "socket activation: a lock sits beside the inherited socket" test -e "$T/act/caretid.sock.lock"
    kill -TERM "$APID"
    wait "$APID"
    expect_eq "socket activation: SIGTERM exits 0" "$?" 0
else
    not_ok "socket activation" "systemd-socket-activate is not installed (make deps installs systemd)"
fi

mkdir -m 700 "$T/n"
"$NOTIFY" "$T/n/notify" 15 STOPPING > "$T/n/messages" &
NPID=$!
for _ in $(seq 1 100); do [ -S "$T/n/notify" ] && break; sleep 0.05; done
NOTIFY_SOCKET="$T/n/notify" $WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$T/n/s.sock" > "$T/n/log" 2>&1 &
DPID=$!
DAEMON_PIDS+=("$DPID")
wait_ready "$T/n/s.sock" "$DPID"
"$CARETICTL" --socket "$T/n/s.sock" reload > /dev/null
stop_daemon "$DPID"
wait "$NPID"
msgs=$(cat "$T/n/messages")
expect_contains "sd_notify READY=1 with the socket" "$msgs" "READY=1;STATUS=serving $T/n/s.sock"
expect_contains "sd_notify RELOADING=1 on reload" "$msgs" "RELOADING=1"
expect_contains "sd_notify STOPPING=1 on SIGTERM" "$msgs" "STOPPING=1"

if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
    check "daemon for the peer test starts" start_daemon "$T/p" "$T/c.yaml"
    # Open the modes on purpose: the uid check must hold on its own.
    chmod 755 "$T" "$T/p"
    chmod 666 "$T/p/caretid.sock"
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
        curl -s -i --unix-socket "$T/p/caretid.sock" http://x/careti/v1/status)
    expect_contains "a peer with another uid is refused" "$out" "HTTP/1.1 403"
    expect_contains "the refusal says why" "$out" "serves only its own user"
    expect_contains "the refusal is logged" "$(cat "$T/p/log")" "refused a connection from uid 65534"
    chmod 700 "$T"
    stop_daemon "$DPID"
else
    echo "# peer uid test needs root and setpriv; skipped"
fi

finish
