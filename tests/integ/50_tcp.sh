#!/usr/bin/env bash
# TCP listeners: loopback by default; beyond it only with a token.
. "$(dirname "$0")/lib.sh"

write_config "$T/remote.yaml" "daemon:" "  listen: [\"0.0.0.0:0\"]"
out=$($WRAPPER "$CARETID" -c "$T/remote.yaml" --socket "$T/x/s.sock" 2>&1)
expect_eq "a non-loopback listener without allow_remote is refused" "$?" 1
expect_contains "the refusal says what to set" "$out" "set daemon.allow_remote: true and daemon.auth_token"
write_config "$T/notoken.yaml" "daemon:" "  listen: [\"0.0.0.0:0\"]" "  allow_remote: true"
out=$($WRAPPER "$CARETID" -c "$T/notoken.yaml" --socket "$T/x/s.sock" 2>&1)
expect_eq "allow_remote without a token is refused" "$?" 1
expect_contains "the refusal names auth_token" "$out" "allow_remote needs daemon.auth_token"

write_config "$T/lo.yaml" "daemon:" "  listen: [\"127.0.0.1:0\", \"[::1]:0\"]" "  state_dir: $T/lo-state"
check "loopback listeners start" start_daemon "$T/lo" "$T/lo.yaml"
S="$T/lo/caretid.sock"
port=$(tcp_port "$S")
out=$(curl -s -i "http://127.0.0.1:$port/careti/v1/health")
expect_contains "loopback TCP needs a token by default (401)" "$out" "HTTP/1.1 401"
expect_contains "the 401 says where the token is shown" "$out" "caretictl status shows it"
tok=$(tcp_token "$S")
check "a 64-digit token was generated" test "${#tok}" -eq 64
expect_eq "it is kept in state_dir/tcp-token, 0600" "$(stat -c %a "$T/lo-state/tcp-token")" 600
expect_eq "the file holds it" "$(cat "$T/lo-state/tcp-token")" "$tok"
out=$("$CARETICTL" --socket "$S" status)
expect_contains "caretictl status prints it" "$out" "token       $tok"
B=(-H "Authorization: Bearer $tok")
expect_eq "loopback TCP serves with it" "$(curl -s "${B[@]}" "http://127.0.0.1:$port/careti/v1/health")" '{"status":"ok"}'
port6=$("$CARETICTL" --socket "$S" status | sed -n 's/^listen *tcp \[::1\]:\([0-9]*\).*/\1/p')
expect_eq "the IPv6 listener too" "$(curl -s "${B[@]}" "http://[::1]:$port6/careti/v1/health")" '{"status":"ok"}'
out=$(curl -s "${B[@]}" "http://127.0.0.1:$port/careti/v1/status")
expect_not_contains "status over TCP does not tell the token" "$out" "$tok"
out=$("$CARETICTL" --socket "$S" status --json)
expect_contains "IPv6 loopback listener is reported" "$out" '"address": "[::1]:'
expect_not_contains "the token never reaches the log" "$(cat "$T/lo/log")" "$tok"

# A web page in the user's browser: DNS rebinding, cross-origin requests,
# and bodies a page may send without a CORS preflight.
u="http://127.0.0.1:$port"
out=$(curl -s -i "${B[@]}" -H "Host: evil.example:$port" "$u/careti/v1/sessions")
expect_contains "a foreign Host is refused (403): DNS rebinding" "$out" "HTTP/1.1 403"
expect_contains "naming the Host and the key that allows one" "$out" 'Host \"evil.example:'"$port"'\" refused'
expect_contains "(daemon.allowed_hosts)" "$out" "daemon.allowed_hosts"
for h in "localhost:$port" "127.0.0.1:$port" "[::1]:$port" "app.localhost" "127.0.0.1"; do
    out=$(curl -s -H "Host: $h" "${B[@]}" "$u/careti/v1/health")
    expect_eq "Host $h is served" "$out" '{"status":"ok"}'
done
out=$(printf 'GET /careti/v1/health HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n' "$tok" | "$RAW" -t "127.0.0.1:$port" -i -r 5)
expect_contains "HTTP/1.1 without a Host is 400" "$out" "HTTP/1.1 400"
out=$(printf 'GET /careti/v1/health HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nAuthorization: Bearer %s\r\n\r\n' "$tok" | "$RAW" -t "127.0.0.1:$port" -i -r 5)
expect_contains "two Host headers are 400" "$out" "more than one Host header"
for h in "localhost:80@evil.example" "127.0.0.1:99999" "localhost:" "localhost:8x"; do
    out=$(curl -s -i -H "Host: $h" "${B[@]}" "$u/careti/v1/health")
    expect_contains "Host $h is refused (403)" "$out" "HTTP/1.1 403"
done
out=$(curl -s -i "${B[@]}" -H "Origin: https://evil.example" -H "Content-Type: application/json" \
    "$u/careti/v1/sessions" -d '{}')
expect_contains "a cross-origin request is refused (403)" "$out" "HTTP/1.1 403"
expect_contains "naming the origin and daemon.allowed_origins" "$out" "cross-origin request from https://evil.example refused"
out=$(curl -s -i "${B[@]}" -H "Origin: null" "$u/api/tags")
expect_contains "Origin: null is refused, in Ollama's dialect" "$out" '{"error":"cross-origin request from null refused'
out=$(curl -s -i "${B[@]}" -H "Sec-Fetch-Site: cross-site" "$u/careti/v1/sessions")
expect_contains "a no-cors page request (Sec-Fetch-Site: cross-site) is refused" "$out" "HTTP/1.1 403"
out=$(curl -s -i "${B[@]}" -H "Sec-Fetch-Site: same-site" "$u/careti/v1/sessions")
expect_contains "and so is one from another loopback port (same-site)" "$out" "HTTP/1.1 403"
out=$(curl -s -i -H "Origin: http://evil.example" "$u/careti/v1/health")
expect_contains "a browser is refused before the token is looked at" "$out" "HTTP/1.1 403"
for ct in "text/plain" "application/x-www-form-urlencoded" "multipart/form-data; boundary=x"; do
    out=$(curl -s -i "${B[@]}" -H "Content-Type: $ct" "$u/v1/chat/completions" -d '{"model":"m","messages":[]}')
    expect_contains "a $ct body is refused over TCP (415)" "$out" "HTTP/1.1 415"
done
expect_contains "the 415 says what to send, in OpenAI's dialect" "$out" '"message":"POST /v1/chat/completions needs Content-Type: application/json'
out=$(curl -s -i "${B[@]}" "$u/api/pull" -d '{"model":"x"}')
expect_contains "curl -d (form) is refused over TCP, in Ollama's dialect" "$out" '{"error":"POST /api/pull needs Content-Type: application/json, not application/x-www-form-urlencoded'
out=$(curl -s "${B[@]}" -H "Content-Type: application/json; charset=utf-8" "$u/careti/v1/sessions" -d '{}' -w '\n%{http_code}')
expect_contains "application/json with a charset is served" "$out" $'\n201'
out=$(curl -s --unix-socket "$S" http://x/careti/v1/sessions -d '{}' -w '\n%{http_code}')
expect_contains "the Unix socket takes curl -d as it is" "$out" $'\n201'
stop_daemon "$DPID"

write_config "$T/allow.yaml" "daemon:" "  listen: [\"127.0.0.1:0\"]" "  state_dir: $T/lo-state" \
    "  allowed_hosts: [devbox.lan]" "  allowed_origins: [\"http://localhost:3000\"]"
check "allowed_hosts and allowed_origins load" start_daemon "$T/al" "$T/allow.yaml"
S="$T/al/caretid.sock"
port=$(tcp_port "$S")
expect_eq "the token survives a restart" "$(tcp_token "$S")" "$tok"
out=$(curl -s "${B[@]}" -H "Host: DevBox.lan:$port" "http://127.0.0.1:$port/careti/v1/health")
expect_eq "an allowed Host is served (any case)" "$out" '{"status":"ok"}'
out=$(curl -s "${B[@]}" -H "Origin: http://localhost:3000" "http://127.0.0.1:$port/careti/v1/health")
expect_eq "an allowed origin is served" "$out" '{"status":"ok"}'
stop_daemon "$DPID"

# A FIFO where the token file should be: the daemon starts, does not
# hang, and refuses to open TCP listeners without a usable token.
mkdir -p -m 700 "$T/fifo-state"
mkfifo "$T/fifo-state/tcp-token"
write_config "$T/fifo.yaml" "daemon:" "  listen: [\"127.0.0.1:0\"]" "  state_dir: $T/fifo-state"
out=$(timeout 10 $WRAPPER "$CARETID" -c "$T/fifo.yaml" --socket "$T/fifo/s.sock" 2>&1)
expect_eq "a FIFO as the token file does not hang the start (exit 1)" "$?" 1
expect_contains "the refusal names the file and the fix" "$out" "$T/fifo-state/tcp-token is not a file of ours"

write_config "$T/off.yaml" "daemon:" "  listen: [\"127.0.0.1:0\"]" "  auth_token: \"off\""
check "auth_token: off starts" start_daemon "$T/off" "$T/off.yaml"
port=$(tcp_port "$T/off/caretid.sock")
expect_eq "auth_token: off serves loopback TCP without a token" "$(curl -s "http://127.0.0.1:$port/careti/v1/health")" '{"status":"ok"}'
out=$(curl -s -i -H "Host: evil.example" "http://127.0.0.1:$port/careti/v1/health")
expect_contains "but still refuses a foreign Host" "$out" "HTTP/1.1 403"
stop_daemon "$DPID"
write_config "$T/offr.yaml" "daemon:" "  listen: [\"0.0.0.0:0\"]" "  allow_remote: true" "  auth_token: \"off\""
out=$(timeout 10 $WRAPPER "$CARETID" -c "$T/offr.yaml" --socket "$T/x/s.sock" 2>&1)
expect_contains "allow_remote with auth_token: off is refused" "$out" "allow_remote needs daemon.auth_token"

write_config "$T/tok.yaml" "daemon:" "  listen: [\"0.0.0.0:0\"]" "  allow_remote: true" "  auth_token: sesame-123"
check "token-protected remote listener starts" start_daemon "$T/tok" "$T/tok.yaml"
S="$T/tok/caretid.sock"
port=$(tcp_port "$S")
out=$(curl -s -i "http://127.0.0.1:$port/careti/v1/health")
expect_contains "no token is 401" "$out" "HTTP/1.1 401"
expect_contains "401 says how to authenticate" "$out" "Authorization: Bearer <token>"
expect_contains "401 carries WWW-Authenticate" "$out" "WWW-Authenticate: Bearer"
out=$(curl -s -i -H "Authorization: Bearer sesame-12" "http://127.0.0.1:$port/careti/v1/health")
expect_contains "a wrong token is 401" "$out" "HTTP/1.1 401"
out=$(curl -s -i -H "Authorization: Bearer sesame-123" "http://127.0.0.1:$port/careti/v1/health")
expect_contains "the right token is served" "$out" '{"status":"ok"}'
out=$(curl -s -i "http://127.0.0.1:$port/api/tags")
expect_contains "401 under /api is in Ollama's dialect" "$out" '{"error":"missing or wrong bearer token'
expect_eq "the Unix socket needs no token" "$(curl -s --unix-socket "$S" http://x/careti/v1/health)" '{"status":"ok"}'
out=$("$CARETICTL" --socket "$S" status)
expect_contains "status marks the listener as token-protected" "$out" "(token required)"
expect_not_contains "secrets never reach the log" "$(cat "$T/tok/log")" sesame
out=$("$CARETID" --check-config -c "$T/tok.yaml")
expect_not_contains "check-config redacts the token" "$out" sesame
stop_daemon "$DPID"

finish
