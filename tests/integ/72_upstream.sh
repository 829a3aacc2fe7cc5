#!/usr/bin/env bash
# The two upstream transports: our own HTTP/1.1 client for http:// servers
# (framings and faults beyond 70_router's, backpressure) and libcurl for
# https:// ones, loaded only when the configuration names such a server.
. "$(dirname "$0")/lib.sh"

# A self-signed certificate for 127.0.0.1, which is its own CA.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2> "$T/openssl.err" \
    || { echo "not ok - openssl makes a test certificate: $(cat "$T/openssl.err")"; exit 1; }

start_emu ollama O || exit 1
EMU_TLS_CERT="$T/cert.pem" EMU_TLS_KEY="$T/key.pem" start_emu openai TLS || exit 1
EMU_TLS_CERT="$T/cert.pem" EMU_TLS_KEY="$T/key.pem" start_emu ollama TLSO || exit 1
tls_emu() { EMU_SCHEME=https emu "$@"; }

write_config "$T/c.yaml" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: byname, type: ollama, base_url: \"http://localhost:$O_PORT\"}" \
    "  - {name: remote, type: openai, base_url: \"https://127.0.0.1:$TLS_PORT/v1\", api_key: sk-test, ca_file: \"$T/cert.pem\"}" \
    "  - {name: remoteollama, type: ollama, base_url: \"https://127.0.0.1:$TLSO_PORT\", ca_file: \"$T/cert.pem\"}" \
    "  - {name: untrusted, type: openai, base_url: \"https://127.0.0.1:$TLS_PORT/v1\"}" \
    "  - {name: deadtls, type: openai, base_url: \"https://127.0.0.1:9/v1\"}" \
    "models:" \
    "  viahost: {provider: byname, model: \"llama3.2\"}" \
    "  tls: {provider: remote, model: \"local-model\"}" \
    "  tlsollama: {provider: remoteollama, model: \"llama3.2\"}" \
    "  bad: {provider: untrusted, model: \"local-model\"}" \
    "  deadtls: {provider: deadtls, model: \"local-model\"}"
# Only http:// servers: libcurl must stay out of the daemon.
write_config "$T/plain.yaml" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "models:" \
    "  viahost: {provider: ollama, model: \"llama3.2\"}"
USER_MSG='"messages":[{"role":"user","content":"hello there"}]'

# --- http:// only: libcurl is never loaded ---
check "daemon starts with http:// providers only" start_daemon "$T/p" "$T/plain.yaml"
S="$T/p/caretid.sock"
out=$(api /api/chat "{\"model\":\"llama3.2\",$USER_MSG}")
expect_contains "a chat through our own HTTP client" "$out" '"done":true'
out=$(api /v1/chat/completions "{\"model\":\"viahost\",\"stream\":true,$USER_MSG}")
expect_contains "and a translated stream" "$out" 'data: [DONE]'
maps=$(cat "/proc/$DPID/maps")
expect_not_contains "libcurl is not mapped when no server is https://" "$maps" "libcurl"
cp "$T/c.yaml" "$T/plain.yaml"
out=$("$CARETICTL" --socket "$S" reload 2>&1)
expect_eq "a reload adds https:// servers" "$out" "configuration reloaded"
maps=$(cat "/proc/$DPID/maps")
expect_contains "and loads libcurl off the loop, before any request" "$maps" "libcurl"
check "that daemon stops cleanly" stop_daemon "$DPID"

check "daemon starts with https:// providers" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
maps=$(cat "/proc/$DPID/maps")
expect_contains "libcurl is loaded at start when the config names an https:// server" "$maps" "libcurl"

# --- our HTTP/1.1 client: framings a server may use ---
out=$(api /api/chat "{\"model\":\"viahost\",\"stream\":false,$USER_MSG}")
expect_contains "a host name is resolved off the loop (localhost)" "$out" '"content":"Hi! You said: hello there"'
emu "$O_PORT" /_emu/fault '{"interim":true,"count":1}' > /dev/null
out=$(api /api/chat "{\"model\":\"llama3.2\",\"stream\":false,$USER_MSG}")
expect_contains "a 1xx head before the answer is skipped" "$out" '"content":"Hi! You said: hello there"'
emu "$O_PORT" /_emu/fault '{"eof_framed":true,"count":1}' > /dev/null
out=$(api /api/chat "{\"model\":\"llama3.2\",\"stream\":true,$USER_MSG}")
expect_contains "an answer framed by closing the connection is read to its end" "$out" '"done":true,"done_reason":"stop"'
out=$(api /api/chat "{\"model\":\"llama3.2\",$USER_MSG}")
expect_contains "and the next request gets a new connection" "$out" '"done":true'
emu "$O_PORT" /_emu/fault '{"not_http":true,"count":1}' > /dev/null
out=$(api_status /api/chat "{\"model\":\"llama3.2\",$USER_MSG}")
expect_contains "a reply that is not HTTP is a 502" "$out" $'\n502'
expect_contains "that says so" "$out" "not valid HTTP/1.1"
emu "$O_PORT" /_emu/fault '{"eof_framed":true,"drop_after":2,"count":1}' > /dev/null
out=$(api /api/chat "{\"model\":\"llama3.2\",\"stream\":true,$USER_MSG}")
expect_contains "a close-framed answer cut short still ends in an error" "$out" '{"error":'
expect_not_contains "never like a finished one" "$out" '"done":true'

# A reader slower than the server: the relay pauses the transfer and the
# bytes already read wait in the connection, then all arrive in order.
word=$(head -c 30000 /dev/zero | tr '\0' 'x')
for i in $(seq 1 100); do printf '%s%03d ' "$word" "$i"; done > "$T/reply.txt"
printf '{"reply":"%s","count":1}' "$(cat "$T/reply.txt")" > "$T/fault.json"
emu "$O_PORT" /_emu/fault "@$T/fault.json" > /dev/null
curl -s -N --max-time 60 --limit-rate 1M --unix-socket "$S" http://x/api/chat \
    -d "{\"model\":\"llama3.2\",\"stream\":true,$USER_MSG}" > "$T/slow.out"
got=$(node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);
  const text=l.map(x=>x.message.content).join("");
  process.stdout.write((text===require("fs").readFileSync(process.argv[2],"utf8")?"same":"differs at "+
    [...text].findIndex((c,i)=>c!==require("fs").readFileSync(process.argv[2],"utf8")[i]))+" done="+l[l.length-1].done)' \
    "$T/slow.out" "$T/reply.txt")
expect_eq "a 3 MB answer to a slow reader arrives whole and in order" "$got" "same done=true"

# --- https:// through libcurl ---
out=$(api /v1/chat/completions "{\"model\":\"tls\",$USER_MSG}")
expect_contains "a chat with an https:// server" "$out" '"content":"Hi! You said: hello there"'
log=$(tls_emu "$TLS_PORT" /_emu/log)
expect_contains "the api_key goes as a Bearer token over TLS" "$log" '"auth":"Bearer sk-test"'
out=$(api /v1/chat/completions "{\"model\":\"tls\",\"stream\":true,$USER_MSG}")
expect_contains "a stream passes through from https://" "$out" 'data: [DONE]'
out=$(api /api/chat "{\"model\":\"tls\",\"stream\":true,$USER_MSG}")
expect_contains "and is translated" "$out" '"done":true'
out=$(api /v1/chat/completions "{\"model\":\"tlsollama\",\"stream\":true,$USER_MSG}")
expect_contains "an https:// Ollama, translated" "$out" 'data: [DONE]'
tls_emu "$TLS_PORT" /_emu/fault '{"drop_after":2,"count":1}' > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"tls\",\"stream\":true,$USER_MSG}")
expect_contains "an https:// stream cut short ends in an in-band error" "$out" '"error":{'
expect_not_contains "and no [DONE]" "$out" '[DONE]'
tls_emu "$TLS_PORT" /_emu/reset '{}' > /dev/null
tls_emu "$TLS_PORT" /_emu/fault '{"slow_ms":200,"count":1}' > /dev/null
curl -s -N --max-time 0.7 --unix-socket "$S" http://x/v1/chat/completions \
    -d "{\"model\":\"tls\",\"stream\":true,$USER_MSG}" > /dev/null
EMU_SCHEME=https emu_log_after_close "$TLS_PORT"
log=$LOG
expect_contains "a client that leaves aborts the https:// transfer" "$log" '"finished":false'
out=$(api_status /v1/chat/completions "{\"model\":\"bad\",$USER_MSG}")
expect_contains "an untrusted certificate is a 502" "$out" $'\n502'
expect_contains "that names TLS and ca_file" "$out" "the TLS connection failed"
expect_contains "and the setting to fix" "$out" "providers[].ca_file"
out=$(api_status /v1/chat/completions "{\"model\":\"deadtls\",$USER_MSG}")
expect_contains "a refused https:// port is a 502" "$out" $'\n502'
expect_contains "that says so" "$out" "refused the connection"
out=$(api /api/chat "{\"model\":\"llama3.2\",$USER_MSG}")
expect_contains "http:// still works beside https://" "$out" '"done":true'
check "daemon stops cleanly" stop_daemon "$DPID"

# --- configuration ---
write_config "$T/badca.yaml" \
    "providers:" \
    "  - {name: remote, type: openai, base_url: \"https://example.invalid/v1\", ca_file: \"$T/missing.pem\"}"
out=$("$CARETID" --check-config -c "$T/badca.yaml" 2>&1)
expect_contains "an unreadable ca_file is refused at load" "$out" "providers[0].ca_file"
expect_contains "naming the file" "$out" "missing.pem"

finish
