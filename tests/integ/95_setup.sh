#!/usr/bin/env bash
# The setup guide as commands (issue 6): metrics for Prometheus, the
# request log behind caretictl stats, caretictl ps and pull.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu lmstudio L || exit 1
write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
C=("$CARETICTL" --socket "$S")

out=$("${C[@]}" ps)
expect_contains "ps lists Ollama's loaded model with its VRAM share and context" "$out" "qwen3-coder:30b"
expect_contains "ps shows context length" "$out" "32768"
expect_contains "ps shows the share in VRAM" "$out" "100%"
expect_contains "ps lists LM Studio's loaded models" "$out" "qwen3-coder-30b-a3b-instruct         lmstudio"
expect_contains "ps --json" "$("${C[@]}" ps --json)" '"size_vram": 19000000000'

out=$("${C[@]}" pull tinyllama)
expect_eq "pull exits 0" "$?" 0
expect_contains "pull prints plain progress lines when not on a terminal" "$out" "3f2a9c0d1e4b  50.0%"
expect_contains "pull says when it is done" "$out" "pulled tinyllama"
out=$("${C[@]}" pull --json tinyllama)
expect_contains "pull --json passes Ollama's events through" "$out" '{"status":"pulling 3f2a9c0d1e4b","digest":"sha256:3f2a9c0d1e4b","total":1000,"completed":500}'
out=$(printf 'x\n' | "$ROOT/$BUILD/tools/ptyrun" 20 "never-typed" -- "${C[@]}" pull tinyllama)
expect_contains "pull draws a progress bar on a terminal" "$out" "#################### 100.0%"
expect_contains "and redraws in place" "$out" $'\033[2A'
"${C[@]}" pull nope > /dev/null 2> "$T/err"
expect_eq "a failed pull exits 1" "$?" 1
expect_contains "with Ollama's message" "$(cat "$T/err")" "pull model manifest: file does not exist"
"${C[@]}" pull gemma@lmstudio > /dev/null 2> "$T/err"
expect_eq "pull on LM Studio exits 1" "$?" 1
expect_contains "and says which lms command to run" "$(cat "$T/err")" '`lms get gemma`'
emu "$O_PORT" /_emu/reset '{}' > /dev/null
emu "$O_PORT" /_emu/fault '{"slow_ms":400}' > /dev/null
"${C[@]}" pull tinyllama > /dev/null 2> "$T/err" &
PULL=$!
sleep 0.9
kill -INT "$PULL"
wait "$PULL"
expect_eq "Ctrl-C cancels a pull (exit 130)" "$?" 130
emu_log_after_close "$O_PORT"
log=$LOG
expect_contains "and stops the download at Ollama" "$log" '"finished":false'
emu "$O_PORT" /_emu/reset '{}' > /dev/null

# stats against known timings: a 300 ms cold start, then 4 pieces 100 ms apart.
emu "$O_PORT" /_emu/fault '{"cold_ms":300,"slow_ms":100,"count":3}' > /dev/null
for _ in 1 2 3; do
    curl -s --unix-socket "$S" http://x/api/chat \
        -d '{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"x"}]}' > /dev/null
done
curl -s --unix-socket "$S" http://x/api/chat -d '{"model":"nosuch","messages":[]}' > /dev/null
out=$("${C[@]}" stats --since 10m --json)
ttft=$(echo "$out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models.find(e=>e.model==="llama3.2");console.log(Math.round(m.median_ttft_ms))})')
if [ "$ttft" -ge 300 ] && [ "$ttft" -lt 900 ]; then ok "stats: median time to first token reflects the 300 ms cold start ($ttft ms)"
else not_ok "stats: median time to first token reflects the 300 ms cold start" "$ttft ms"; fi
tps=$(echo "$out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models.find(e=>e.model==="llama3.2");console.log(Math.round(m.median_tokens_per_s))})')
if [ "$tps" -ge 5 ] && [ "$tps" -le 20 ]; then ok "stats: tokens/s reflects 100 ms between tokens ($tps)"
else not_ok "stats: tokens/s reflects 100 ms between tokens" "$tps"; fi
expect_contains "stats counts requests per model" "$out" '"requests": 3'
expect_contains "stats counts errors by kind" "$out" '"model_not_found": 1'
out=$("${C[@]}" stats)
expect_contains "caretictl stats prints a table" "$out" "llama3.2                       ollama"
"${C[@]}" stats --since forever > /dev/null 2> "$T/err"
expect_eq "a bad --since exits 1" "$?" 1
expect_contains "and says what a duration looks like" "$(cat "$T/err")" "90s, 15m, 2h or 7d"
emu "$O_PORT" /_emu/reset '{}' > /dev/null

# bench against known timings: the emulator reports eval_count 15 in
# eval_duration 0.47 s (31.91 tokens/s) after a 200 ms cold start.
emu "$O_PORT" /_emu/fault '{"cold_ms":200,"count":2}' > /dev/null
out=$("${C[@]}" bench -m llama3.2 -n 2 2> /dev/null)
expect_contains "bench reports generation speed from the server's counters" "$out" "generation                  31.91      31.91      31.91  tokens/s"
expect_contains "bench sets it against the usual band" "$out" "above the 5-20 tokens/s usual"
ttft=$("${C[@]}" bench -m llama3.2 -n 1 --json 2> /dev/null | sed -n 's/.*"ttft_s": \([0-9.]*\).*/\1/p')
check "bench --json gives the time to first token" test -n "$ttft"
"${C[@]}" bench -m nosuch > /dev/null 2> "$T/err"
expect_eq "bench on an unknown model exits 1" "$?" 1
expect_contains "with the daemon's message" "$(cat "$T/err")" "model 'nosuch' not found"
emu "$O_PORT" /_emu/reset '{}' > /dev/null

out=$(curl -s --unix-socket "$S" http://x/metrics)
check "/metrics parses as Prometheus text" bash -c "node '$ROOT/tests/tools/promcheck.mjs' <<< \"\$1\"" _ "$out"
n=$(echo "$out" | sed -n 's/^careti_time_to_first_token_seconds_count{provider="ollama",model="llama3.2"} //p')
if [ "${n:-0}" -ge 6 ]; then ok "/metrics times the first token of passed-through answers too ($n)"
else not_ok "/metrics times the first token of passed-through answers" "count ${n:-none}"; fi
expect_not_contains "a pull is not counted as a model request" "$out" 'model="tinyllama"'

check "daemon stops cleanly" stop_daemon "$DPID"
finish
