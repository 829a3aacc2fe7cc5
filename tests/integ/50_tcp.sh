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

write_config "$T/lo.yaml" "daemon:" "  listen: [\"127.0.0.1:0\", \"[::1]:0\"]"
check "loopback listeners start" start_daemon "$T/lo" "$T/lo.yaml"
port=$(tcp_port "$T/lo/caretid.sock")
expect_eq "loopback TCP serves without a token" "$(curl -s "http://127.0.0.1:$port/careti/v1/health")" '{"status":"ok"}'
out=$("$CARETICTL" --socket "$T/lo/caretid.sock" status --json)
expect_contains "IPv6 loopback listener is reported" "$out" '"address": "[::1]:'
stop_daemon "$DPID"

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
