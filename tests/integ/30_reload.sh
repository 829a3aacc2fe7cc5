#!/usr/bin/env bash
# Reload swaps the whole config or nothing; failures are visible in status.
. "$(dirname "$0")/lib.sh"

write_config "$T/c.yaml" "daemon:" "  log_level: info"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

write_config "$T/c.yaml" "daemon:" "  log_level: debug" "  listen: [\"127.0.0.1:0\"]" \
    "providers:" "  - {name: local, type: openai, base_url: \"http://127.0.0.1:8080\"}"
out=$("$CARETICTL" --socket "$S" reload)
expect_eq "caretictl reload applies a valid file" "$out" "configuration reloaded"
out=$("$CARETICTL" --socket "$S" status --json)
expect_contains "new log level in force" "$out" '"log_level": "debug"'
expect_contains "new providers in force" "$out" '"name": "local"'
expect_contains "new TCP listener opened on reload" "$out" '"type": "tcp"'
port=$(tcp_port "$S")
expect_eq "the new listener answers" "$(curl -s "http://127.0.0.1:$port/careti/v1/health")" '{"status":"ok"}'

write_config "$T/c.yaml" "daemon:" "  log_level: info" "providers:" "  - {name: x, type: nope, base_url: http://a}"
out=$("$CARETICTL" --socket "$S" reload 2>&1)
expect_eq "an invalid file makes reload exit 1" "$?" 1
expect_contains "the reload error names line and column" "$out" "$T/c.yaml:4:21: providers[0].type"
out=$("$CARETICTL" --socket "$S" status --json)
expect_contains "old config stays in force" "$out" '"name": "local"'
expect_contains "status shows the failed reload" "$out" '"ok": false'
out=$("$CARETICTL" --socket "$S" status)
expect_contains "readable status shows the reload error" "$out" "the previous configuration stays in force: $T/c.yaml:4:21"

write_config "$T/c.yaml" "daemon:" "  log_level: info" "  listen: [\"127.0.0.1:0\"]"
kill -HUP "$DPID"
for _ in $(seq 1 100); do
    out=$("$CARETICTL" --socket "$S" status --json)
    [[ "$out" == *'"count": 3'* ]] && break
    sleep 0.05
done
expect_contains "SIGHUP reloads" "$out" '"count": 3'
expect_contains "SIGHUP reload succeeded" "$out" '"ok": true'
expect_contains "SIGHUP applied the providers" "$out" '"name": "lmstudio"'
expect_contains "the daemon logged the reload error" "$(cat "$T/d/log")" "reload failed: the previous configuration stays in force"
check "daemon still stops cleanly" stop_daemon "$DPID"

finish
