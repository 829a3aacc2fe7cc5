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
expect_eq "the new listener answers" "$(curl -s -H "Authorization: Bearer $(tcp_token "$S")" "http://127.0.0.1:$port/careti/v1/health")" '{"status":"ok"}'

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

# A listener that cannot be opened fails the whole reload, and the ones in
# force keep serving: nothing is closed before the new ones are bound.
start_emu ollama O || exit 1
tok=$(tcp_token "$S")
port=$(tcp_port "$S")
write_config "$T/c.yaml" "daemon:" "  log_level: info" "  listen: [\"127.0.0.1:0\", \"127.0.0.1:$O_PORT\"]"
kill -HUP "$DPID"
for _ in $(seq 1 100); do
    out=$("$CARETICTL" --socket "$S" status --json)
    [[ "$out" == *'"count": 4'* ]] && break
    sleep 0.05
done
expect_contains "a taken port fails the SIGHUP reload" "$out" '"ok": false'
expect_contains "naming the address, the key and the file" "$out" "error listening on 127.0.0.1:$O_PORT (address already in use): daemon.listen in $T/c.yaml"
expect_contains "and saying the previous configuration is in force" "$out" "the previous configuration stays in force"
expect_eq "the listener in force still answers" "$(curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/careti/v1/health")" '{"status":"ok"}'
out=$(curl -s -w '\n%{http_code}' --unix-socket "$S" -X POST http://x/careti/v1/reload)
expect_contains "a later POST /reload does not claim success (422)" "$out" $'\n422'
expect_contains "and says the previous configuration is in force" "$out" 'reload failed: the previous configuration stays in force: error listening on'
expect_eq "the listener in force still answers after it" "$(curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/careti/v1/health")" '{"status":"ok"}'
out=$("$CARETICTL" --socket "$S" status --json)
expect_contains "status lists the listener in force" "$out" "\"address\": \"127.0.0.1:$port\""
write_config "$T/c.yaml" "daemon:" "  log_level: info" "  listen: [\"127.0.0.1:0\", \"[::1]:0\"]"
out=$("$CARETICTL" --socket "$S" reload)
expect_eq "adding a listener beside one kept reloads" "$out" "configuration reloaded"
expect_eq "the kept listener keeps its port" "$(tcp_port "$S")" "$port"
write_config "$T/c.yaml" "daemon:" "  log_level: info"
"$CARETICTL" --socket "$S" reload > /dev/null
out=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/careti/v1/health")
expect_eq "a listener dropped from the file is closed" "$out" 000
check "daemon still stops cleanly" stop_daemon "$DPID"

# --tcp-optional: a port taken at start leaves the listener closed, and a
# reload of the same file opens it once the port is free.
node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>console.log(s.address().port))' > "$T/holder.out" &
holder=$!
DAEMON_PIDS+=("$holder")
for _ in $(seq 1 100); do [ -s "$T/holder.out" ] && break; sleep 0.05; done
hport=$(cat "$T/holder.out")
write_config "$T/opt.yaml" "daemon:" "  listen: [\"127.0.0.1:$hport\"]"
check "with --tcp-optional a taken port does not stop the start" start_daemon "$T/o" "$T/opt.yaml" --tcp-optional
expect_contains "the warning names the key and says a reload tries again" "$(cat "$T/o/log")" "daemon.listen in $T/opt.yaml"
kill "$hport" 2>/dev/null; kill "$holder"; wait "$holder" 2>/dev/null
out=$("$CARETICTL" --socket "$T/o/caretid.sock" reload)
expect_eq "once the port is free, a reload of the same file opens it" "$out" "configuration reloaded"
expect_eq "the listener answers" "$(tcp_port "$T/o/caretid.sock")" "$hport"
check "daemon stops cleanly" stop_daemon "$DPID"

finish
