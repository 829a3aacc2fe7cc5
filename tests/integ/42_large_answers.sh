#!/usr/bin/env bash
# Answers larger than the slow-reader limit (16 MiB) reach a client that
# reads them; only a client that stops reading is dropped, and never
# under the handler that is writing to it.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
write_config "$T/c.yaml" \
    "daemon:" "  state_dir: $T/state" \
    "providers:" "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "models:" "  coder: {provider: ollama, model: \"qwen3-coder:30b\", context_length: 262144}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

# 17 MiB of text, as a JSON string.
big="$T/big.json"
head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' 'a' > "$T/big.txt"
printf '{"content":"%s"}' "$(cat "$T/big.txt")" > "$big"

out=$(curl -s --max-time 60 --unix-socket "$S" http://x/careti/v1/sessions -d '{"model":"coder"}')
ID=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
curl -s -o "$T/turn.out" --max-time 120 --unix-socket "$S" "http://x/careti/v1/sessions/$ID/messages" \
    --data-binary @"$big"
check "the daemon survives a turn with a 17 MiB message" kill -0 "$DPID"
code=$(curl -s -o "$T/get.out" -w '%{http_code}' --max-time 60 --unix-socket "$S" \
    "http://x/careti/v1/sessions/$ID")
expect_eq "GET of a session holding a 17 MiB message is 200" "$code" 200
size=$(stat -c %s "$T/get.out")
check "and carries the whole message ($size bytes)" test "$size" -gt $((17 * 1024 * 1024))
code=$(curl -s -o "$T/export.out" -w '%{http_code}' --max-time 60 --unix-socket "$S" \
    "http://x/careti/v1/sessions/$ID/export")
expect_eq "its export is 200 too" "$code" 200
check "the daemon is still up" kill -0 "$DPID"

# From a model server, an answer over the relay's 16 MiB event cap is
# refused in the client's dialect, naming the cap; nothing crashes.
printf '{"model":"coder","stream":false,"messages":[{"role":"user","content":"%s"}]}' \
    "$(cat "$T/big.txt")" > "$T/chat.json"
out=$(curl -s -w '\n%{http_code}' --max-time 120 --unix-socket "$S" http://x/api/chat \
    --data-binary @"$T/chat.json")
expect_contains "a 17 MiB answer from Ollama is a 502" "$out" $'\n502'
expect_contains "that names the cap" "$out" '{"error":"ollama (http://127.0.0.1:'"$O_PORT"'): the server sent a stream event over 16 MiB"}'
check "the daemon is up after it" kill -0 "$DPID"

# 40,000 pipelined requests whose answers are never read: the daemon
# answers no further ahead than it must, and keeps serving others.
node -e '
const s = require("net").connect(process.argv[1], () => {
  s.pause();
  s.write("GET /careti/v1/status HTTP/1.1\r\nHost: x\r\n\r\n".repeat(40000));
});
s.on("error", () => {});
setTimeout(() => process.exit(0), 4000);' "$S" &
rawpid=$!
for _ in $(seq 1 40); do sleep 0.05; done
out=$(curl -s --max-time 5 --unix-socket "$S" http://x/careti/v1/health)
expect_eq "others are served while a client does not read" "$out" '{"status":"ok"}'
kill "$rawpid" 2>/dev/null
wait "$rawpid" 2>/dev/null
check "the daemon is still up after it" kill -0 "$DPID"
stop_daemon "$DPID"
expect_eq "and exits cleanly" "$?" 0

finish
