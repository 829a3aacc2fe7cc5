#!/usr/bin/env bash
# A reload frees the old configuration: requests and turns queued under
# it must keep what they took from it (an alias's options).
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" \
    "providers:" "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\", max_concurrent: 1}" \
    "models:" "  coder: {provider: ollama, model: \"qwen3-coder:30b\", options: {top_k: 7}}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
ID=$(curl -s --unix-socket "$S" http://x/careti/v1/sessions -d '{"model":"coder"}' | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
emu "$O_PORT" /_emu/fault '{"slow_ms":300,"count":1}' > /dev/null
msg='{"model":"coder","messages":[{"role":"user","content":"hi"}]}'
curl -s --max-time 20 --unix-socket "$S" http://x/api/chat -d "$msg" > "$T/first.out" &
first=$!
for _ in $(seq 1 100); do [[ "$(emu "$O_PORT" /_emu/log)" == *'"/api/chat"'* ]] && break; sleep 0.02; done
# Queued behind the slow one (max_concurrent: 1): a chat and a session turn.
curl -s --max-time 20 --unix-socket "$S" http://x/api/chat -d "$msg" > "$T/second.out" &
second=$!
curl -s --max-time 20 --unix-socket "$S" "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"queued turn"}' > "$T/turn.out" &
turn=$!
sleep 0.1
for i in 1 2 3; do kill -HUP "$DPID"; sleep 0.05; done
wait "$first" "$second" "$turn"
log=$(emu "$O_PORT" /_emu/log)
n=$(echo "$log" | grep -o '"top_k":7' | wc -l)
check "all three requests kept the alias's options across the reloads ($n of 3)" test "$n" -ge 3
expect_contains "the queued turn completed" "$(cat "$T/turn.out")" '"status":"complete"}'
check "the daemon is up" kill -0 "$DPID"
check "daemon stops cleanly" stop_daemon "$DPID"

finish
