#!/usr/bin/env bash
# caretid's flags, its control routes, caretictl, and the socket's modes.
. "$(dirname "$0")/lib.sh"

out=$(XDG_RUNTIME_DIR=/run/user/4242 "$CARETID" --check-config -c "$ROOT/config/caretid.yaml" 2>&1)
check "example config is valid" test $? -eq 0
expect_contains "check-config prints the effective socket" "$out" 'socket: "/run/user/4242/careti/caretid.sock"'

write_config "$T/bad.yaml" "daemon:" "  log_level: info" "  max_body_byte: 5"
out=$("$CARETID" --check-config -c "$T/bad.yaml" 2>&1)
check "invalid config exits 1" test $? -eq 1
expect_contains "config error names file, line, column, key and a suggestion" "$out" \
    "$T/bad.yaml:3:3: daemon.max_body_byte: unknown key; did you mean \"max_body_bytes\"?"

out=$("$CARETID" --bogus 2>&1)
check "unknown flag exits 2" test $? -eq 2
out=$("$CARETID" --version)
expect_contains "--version" "$out" "caretid 0.1.0"

out=$("$CARETICTL" --socket "$T/none/caretid.sock" status 2>&1)
code=$?
expect_eq "caretictl without a daemon exits 3" "$code" 3
expect_contains "caretictl says how to start the daemon" "$out" \
    "no server running on $T/none/caretid.sock; start it with \`systemctl --user start caretid\` or \`caretid &\`"
"$CARETICTL" frobnicate > /dev/null 2>&1
expect_eq "unknown command exits 2" "$?" 2
"$CARETICTL" status extra > /dev/null 2>&1
expect_eq "extra argument exits 2" "$?" 2

write_config "$T/c.yaml" "daemon:" "  listen: [\"127.0.0.1:0\"]"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
expect_eq "socket directory is 0700" "$(stat -c %a "$T/d")" 700
expect_eq "socket is 0600" "$(stat -c %a "$S")" 600
expect_eq "health" "$(curl -s --unix-socket "$S" http://x/careti/v1/health)" '{"status":"ok"}'

out=$("$CARETICTL" --socket "$S" status)
expect_contains "status names the socket" "$out" "socket      $S"
expect_contains "status names the config" "$out" "config      $T/c.yaml"
expect_contains "status lists the default providers" "$out" "ollama (ollama) http://127.0.0.1:11434"
expect_contains "status shows the TCP listener" "$out" "listen      tcp 127.0.0.1:"
out=$(CARETI_SOCKET="$S" "$CARETICTL" st --json)
expect_contains "status --json (socket from CARETI_SOCKET, alias st)" "$out" "\"pid\": $DPID"
expect_contains "status --json has api_version" "$out" '"api_version": 1'
out=$("$CARETICTL" --socket "$S" statu --json)
expect_contains "unique prefix selects a command" "$out" '"requests_served"'
"$CARETICTL" --socket "$S" stat > /dev/null 2> "$T/err"
expect_eq "an ambiguous prefix exits 2" "$?" 2
expect_contains "and lists the candidates" "$(cat "$T/err")" '"stat" is ambiguous: status stats'
out=$("$CARETICTL" --socket "$S" version)
expect_contains "version shows the daemon" "$out" "caretid 0.1.0 (API 1)"

out=$(curl -s -i --unix-socket "$S" http://x/careti/v1/nope)
expect_contains "unknown route is 404" "$out" "HTTP/1.1 404"
expect_contains "404 body is JSON in the careti dialect" "$out" '"type":"not_found_error","status":404'
out=$(curl -s -i --unix-socket "$S" http://x/api/nope)
expect_contains "404 under /api is in Ollama's dialect" "$out" '{"error":"no route for GET /api/nope'
out=$(curl -s -i --unix-socket "$S" http://x/v1/nope)
expect_contains "404 under /v1 is in OpenAI's dialect" "$out" '"param":null,"code":null'
out=$(curl -s -i --unix-socket "$S" -X POST http://x/careti/v1/status)
expect_contains "wrong method is 405" "$out" "HTTP/1.1 405"
expect_contains "405 carries Allow" "$out" "Allow: GET"
out=$(curl -s -I --unix-socket "$S" http://x/careti/v1/health)
expect_contains "HEAD answers like GET without a body" "$out" "Content-Length: 16"

out=$(curl -s -v --unix-socket "$S" http://x/careti/v1/health http://x/careti/v1/health 2>&1)
expect_contains "keep-alive reuses the connection" "$out" "Re-using existing connection"

out=$(printf 'POST /careti/v1/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' |
    "$RAW" -u "$S" -i)
expect_contains "chunked request body is accepted" "$out" '"reloaded":true'

check "SIGTERM exits 0" stop_daemon "$DPID"
check "socket removed on exit" test ! -e "$S"
expect_contains "shutdown is logged" "$(cat "$T/d/log")" "stopped after serving"

# Under systemd the journal adds time; we add <N> priorities instead.
mkdir -m 700 "$T/j"
JOURNAL_STREAM=8:1234 $WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$T/j/s.sock" > "$T/j/log" 2>&1 &
DPID=$!
DAEMON_PIDS+=("$DPID")
wait_ready "$T/j/s.sock" "$DPID"
stop_daemon "$DPID"
first=$(head -n1 "$T/j/log")
expect_contains "journal format uses priority prefixes" "$first" "<6>"
if [[ "$first" =~ ^\<6\>[a-z] ]]; then ok "journal format has no timestamp"; else not_ok "journal format has no timestamp" "$first"; fi

finish
