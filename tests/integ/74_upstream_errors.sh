#!/usr/bin/env bash
# What a model server says when it fails, passed on in the client's
# dialect: a redirect (with where it points and the fix), an Ollama error
# object under HTTP 200, and in-band errors in the middle of a stream
# (Ollama's NDJSON line, llama-server's SSE event), over both transports
# (our HTTP/1.1 client and libcurl) and in session turns.
. "$(dirname "$0")/lib.sh"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2> "$T/openssl.err" \
    || { echo "not ok - openssl makes a test certificate: $(cat "$T/openssl.err")"; exit 1; }

start_emu ollama O || exit 1
start_emu openai L || exit 1
EMU_TLS_CERT="$T/cert.pem" EMU_TLS_KEY="$T/key.pem" start_emu ollama TO || exit 1
EMU_TLS_CERT="$T/cert.pem" EMU_TLS_KEY="$T/key.pem" start_emu openai TL || exit 1
tls_emu() { EMU_SCHEME=https emu "$@"; }

write_config "$T/c.yaml" \
    "daemon:" "  state_dir: $T/state" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: llama, type: openai, base_url: \"http://127.0.0.1:$L_PORT/v1\"}" \
    "  - {name: tlsollama, type: ollama, base_url: \"https://127.0.0.1:$TO_PORT\", ca_file: \"$T/cert.pem\"}" \
    "  - {name: tlsllama, type: openai, base_url: \"https://127.0.0.1:$TL_PORT/v1\", ca_file: \"$T/cert.pem\"}" \
    "models:" \
    "  coder: {provider: ollama, model: \"qwen3-coder:30b\"}" \
    "  lm: {provider: llama, model: \"local-model\"}" \
    "  tlscoder: {provider: tlsollama, model: \"qwen3-coder:30b\"}" \
    "  tlslm: {provider: tlsllama, model: \"local-model\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
USER_MSG='"messages":[{"role":"user","content":"hello there"}]'
OOM="model crashed: out of memory"
MOVED="http://10.0.0.7:11434/ollama/api/chat"

# --- a redirect is named, with where it points and the fix ---
emu "$O_PORT" /_emu/fault "{\"redirect\":\"$MOVED\",\"count\":1}" > /dev/null
out=$(api_status /api/chat "{\"model\":\"coder\",$USER_MSG}")
expect_contains "a 302 is a 502 before any byte" "$out" $'\n502'
expect_contains "in Ollama's dialect, naming the provider and its base_url" "$out" \
    "{\"error\":\"ollama at http://127.0.0.1:$O_PORT: "
expect_contains "with the status and the Location" "$out" "HTTP 302, a redirect to $MOVED"
expect_contains "and the fix" "$out" "point base_url at the final address"
expect_not_contains "never as a stream cut short" "$out" "closed the stream"
emu "$O_PORT" /_emu/fault "{\"redirect\":\"$MOVED\",\"redirect_status\":308,\"count\":1}" > /dev/null
out=$(api_status /v1/chat/completions "{\"model\":\"coder\",\"stream\":true,$USER_MSG}")
expect_contains "a 308 to an OpenAI-dialect stream is an OpenAI error" "$out" \
    "{\"error\":{\"message\":\"ollama at http://127.0.0.1:$O_PORT: answered HTTP 308, a redirect to $MOVED"
expect_contains "also a 502" "$out" $'\n502'
out=$(api /api/chat "{\"model\":\"coder\",\"stream\":false,$USER_MSG}")
expect_contains "the next request on that server is served" "$out" '"done":true'
tls_emu "$TL_PORT" /_emu/fault '{"redirect":"https://example.org/v1/chat/completions","redirect_status":301,"count":1}' > /dev/null
out=$(api_status /v1/chat/completions "{\"model\":\"tlslm\",$USER_MSG}")
expect_contains "over https:// (libcurl) a 301 is named too" "$out" \
    "tlsllama at https://127.0.0.1:$TL_PORT: answered HTTP 301, a redirect to https://example.org/v1/chat/completions"
expect_contains "as a 502" "$out" $'\n502'
tls_emu "$TO_PORT" /_emu/fault "{\"redirect\":\"$MOVED\",\"count\":1}" > /dev/null
out=$(api_status /api/chat "{\"model\":\"tlscoder\",\"stream\":true,$USER_MSG}")
expect_contains "and a streamed request's 302 over https://" "$out" "HTTP 302, a redirect to $MOVED"
out=$(api /v1/chat/completions "{\"model\":\"tlslm\",$USER_MSG}")
expect_contains "libcurl serves the next request" "$out" '"content":"Hi! You said: hello there"'

# --- Ollama's error object under HTTP 200 keeps its own words ---
for route in /api/chat /v1/chat/completions; do
    for stream in true false; do
        emu "$O_PORT" /_emu/fault "{\"error_200\":\"$OOM\",\"count\":1}" > /dev/null
        out=$(api_status "$route" "{\"model\":\"coder\",\"stream\":$stream,$USER_MSG}")
        expect_contains "Ollama's 200 {\"error\"} on $route (stream $stream) keeps its text" "$out" \
            "ollama (http://127.0.0.1:$O_PORT) answered: $OOM"
        expect_contains "  as a 502" "$out" $'\n502'
    done
done
emu "$O_PORT" /_emu/fault "{\"error_200\":\"$OOM\",\"count\":1}" > /dev/null
out=$(api /api/chat "{\"model\":\"coder\",$USER_MSG}")
expect_contains "in Ollama's dialect on /api/*" "$out" "{\"error\":\"ollama (http://127.0.0.1:$O_PORT) answered: $OOM\"}"
emu "$O_PORT" /_emu/fault "{\"error_200\":\"$OOM\",\"count\":1}" > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"coder\",$USER_MSG}")
expect_contains "in OpenAI's on /v1/*" "$out" "{\"error\":{\"message\":\"ollama (http://127.0.0.1:$O_PORT) answered: $OOM\",\"type\":"
# A model server's words reach the log, but never as a line of their own
# nor as terminal escapes.
emu "$O_PORT" /_emu/fault '{"error_200":"boom\n2026-01-01T00:00:00.000 caretid[error] forged\u001b[31m","count":1}' > /dev/null
api /api/chat "{\"model\":\"coder\",$USER_MSG}" > /dev/null
expect_not_contains "a server's newline does not forge a log line" "$(grep -c '^2026-01-01' "$T/d/log")" 1
expect_contains "it is shown escaped" "$(cat "$T/d/log")" 'boom\x0a2026-01-01T00:00:00.000 caretid[error] forged\x1b[31m'
tls_emu "$TO_PORT" /_emu/fault "{\"error_200\":\"$OOM\",\"count\":1}" > /dev/null
out=$(api_status /api/chat "{\"model\":\"tlscoder\",$USER_MSG}")
expect_contains "and over https://" "$out" "tlsollama (https://127.0.0.1:$TO_PORT) answered: $OOM"
emu "$L_PORT" /_emu/fault "{\"error_200\":\"$OOM\",\"count\":1}" > /dev/null
out=$(api_status /api/chat "{\"model\":\"lm\",$USER_MSG}")
expect_contains "an OpenAI-compatible server's 200 {\"error\":{...}} likewise" "$out" \
    "llama (http://127.0.0.1:$L_PORT) answered: $OOM"
out=$(api_status /api/chat '{"model":"coder","messages":[]}')
expect_contains "a model load's one-object reply is still an answer" "$out" \
    $'"done":true,"done_reason":"load"}\n\n200'
metrics=$(curl -s --unix-socket "$S" http://x/metrics)
expect_contains "  and the streams it opened are closed in the metrics" "$metrics" $'\ncareti_active_streams 0\n'
out=$(api_status /api/chat '{"model":"coder","stream":false,"messages":[]}')
expect_contains "  gathered too" "$out" '"done_reason":"load"'
expect_contains "  (200)" "$out" $'\n200'

# --- in-band errors mid-stream: the server's text, in the client's dialect ---
emu "$O_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"error_after\":2,\"count\":1}" > /dev/null
out=$(api /api/chat "{\"model\":\"coder\",$USER_MSG}")
expect_contains "Ollama's error line mid-stream reaches an Ollama client" "$out" "{\"error\":\"$OOM\"}"
expect_not_contains "  with no done:true after it" "$out" '"done":true'
emu "$O_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"error_after\":2,\"count\":1}" > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"coder\",\"stream\":true,$USER_MSG}")
expect_contains "and an OpenAI client as an error event" "$out" \
    "data: {\"error\":{\"message\":\"ollama (http://127.0.0.1:$O_PORT) answered: $OOM\""
expect_not_contains "  with no [DONE]" "$out" '[DONE]'
emu "$O_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"error_after\":2,\"count\":1}" > /dev/null
out=$(api_status /v1/chat/completions "{\"model\":\"coder\",\"stream\":false,$USER_MSG}")
expect_contains "a gathered answer is a 502 with the server's text" "$out" "ollama (http://127.0.0.1:$O_PORT) answered: $OOM"
expect_contains "  (502)" "$out" $'\n502'
tls_emu "$TO_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"error_after\":1,\"count\":1}" > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"tlscoder\",\"stream\":true,$USER_MSG}")
expect_contains "Ollama's error line over https://" "$out" "tlsollama (https://127.0.0.1:$TO_PORT) answered: $OOM"
emu "$L_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"error_after\":2,\"count\":1}" > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"lm\",\"stream\":true,$USER_MSG}")
expect_contains "llama-server's error event reaches an OpenAI client" "$out" \
    "data: {\"error\":{\"code\":500,\"message\":\"$OOM\",\"type\":\"server_error\"}}"
expect_not_contains "  with no [DONE]" "$out" '[DONE]'
emu "$L_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"error_after\":2,\"count\":1}" > /dev/null
out=$(api /api/chat "{\"model\":\"lm\",$USER_MSG}")
expect_contains "and an Ollama client as an error line" "$out" \
    "{\"error\":\"llama (http://127.0.0.1:$L_PORT) answered: $OOM\"}"
tls_emu "$TL_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"count\":1}" > /dev/null
out=$(api_status /api/chat "{\"model\":\"tlslm\",\"stream\":false,$USER_MSG}")
expect_contains "an error event over https://, gathered, is a 502 with its text" "$out" \
    "{\"error\":\"tlsllama (https://127.0.0.1:$TL_PORT) answered: $OOM\"}"

# --- a session turn stores the server's words on the failed reply ---
sess() { curl -s -N --max-time 20 --unix-socket "$S" -H 'Content-Type: application/json' "$@"; }
out=$(sess http://x/careti/v1/sessions -d '{"model":"coder","workspace":"/src/app"}')
ID=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
emu "$O_PORT" /_emu/fault "{\"error_200\":\"$OOM\",\"count\":1}" > /dev/null
out=$(sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"first"}')
expect_contains "a turn answered 200 {\"error\"} ends in an error event with the text" "$out" \
    "event: error"$'\n'"data: {\"message\":\"ollama (http://127.0.0.1:$O_PORT) answered: $OOM\"}"
emu "$O_PORT" /_emu/fault "{\"redirect\":\"$MOVED\",\"count\":1}" > /dev/null
out=$(sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"second"}')
expect_contains "a redirected turn names the redirect" "$out" "HTTP 302, a redirect to $MOVED"
emu "$O_PORT" /_emu/fault "{\"midstream_error\":\"$OOM\",\"error_after\":1,\"count\":1}" > /dev/null
sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"third"}' > /dev/null
out=$(sess http://x/careti/v1/sessions/"$ID")
expect_contains "the stored reply keeps the 200 error's text" "$out" \
    "\"status\":\"error\",\"error\":\"ollama (http://127.0.0.1:$O_PORT) answered: $OOM\""
expect_contains "the redirect's" "$out" "answered HTTP 302, a redirect to $MOVED"
expect_contains "and the mid-stream line's" "$out" "\"status\":\"error\",\"error\":\"$OOM\""

check "daemon stops cleanly" stop_daemon "$DPID"
finish
