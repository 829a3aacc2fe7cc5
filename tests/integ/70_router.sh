#!/usr/bin/env bash
# The router: both dialects in, Ollama / LM Studio / OpenAI-compatible
# servers out, translated both ways, and every failure in the client's
# dialect naming the provider and what to do.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu lmstudio L || exit 1
# Started with a window (-c) that takes the 4 MB conversation below.
EMU_N_CTX=4194304 start_emu openai A || exit 1
write_config "$T/c.yaml" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT/v1/\"}" \
    "  - {name: llamacpp, type: openai, base_url: \"http://127.0.0.1:$A_PORT/v1\"}" \
    "  - {name: dead, type: ollama, base_url: \"http://127.0.0.1:9\", timeouts: {connect_s: 2}}" \
    "  - {name: deadlms, type: lmstudio, base_url: \"http://127.0.0.1:9\"}" \
    "  - {name: single, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\", max_concurrent: 1, max_queue: 4}" \
    "  - name: slow" \
    "    type: ollama" \
    "    base_url: \"http://127.0.0.1:$O_PORT\"" \
    "    timeouts: {connect_s: 2, first_byte_s: 1, idle_s: 1}" \
    "    max_concurrent: 1" \
    "    max_queue: 0" \
    "models:" \
    "  coder: {provider: ollama, model: \"qwen3-coder:30b\", context_length: 65536, options: {temperature: 0.2}}" \
    "  fast: {provider: [dead, ollama], model: \"llama3.2\"}" \
    "  slowpoke: {provider: slow, model: \"llama3.2\"}" \
    "  one: {provider: single, model: \"llama3.2\"}" \
    "  lmtuned: {provider: lmstudio, model: \"gemma-3-12b\", options: {temperature: 0.3, num_predict: 77}}" \
    "  embedder: {provider: ollama, model: \"nomic-embed-text\", context_length: 2048}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
USER_MSG='"messages":[{"role":"user","content":"hello there"}]'

# --- catalogues ---
out=$(curl -s --unix-socket "$S" http://x/v1/models)
expect_contains "/v1/models lists aliases" "$out" '"id":"coder","object":"model"'
expect_contains "/v1/models lists Ollama models with their provider" "$out" '"id":"qwen3-coder:30b","object":"model","created":0,"owned_by":"ollama"'
expect_contains "/v1/models lists LM Studio models with state" "$out" '"loaded":true'
expect_contains "/v1/models lists llama.cpp models" "$out" '"id":"local-model"'
out=$(curl -s --unix-socket "$S" http://x/api/tags)
expect_contains "/api/tags merges providers" "$out" '"name":"gemma-3-12b","model":"gemma-3-12b"'
expect_contains "/api/tags keeps Ollama details" "$out" '"quantization_level":"Q4_K_M"'
out=$("$CARETICTL" --socket "$S" status --json)
expect_contains "status reports an unreachable provider" "$out" '"reachable": false'
expect_contains "status says why" "$out" "dead at http://127.0.0.1:9 refused the connection"

# --- OpenAI client, Ollama server ---
emu "$O_PORT" /_emu/reset '{}' > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"coder\",$USER_MSG}")
expect_contains "OpenAI chat through Ollama (non-streamed)" "$out" '"content":"Hi! You said: hello there"'
expect_contains "usage from Ollama's counts" "$out" '"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}'
log=$(emu "$O_PORT" /_emu/log)
expect_contains "num_ctx from the alias reaches Ollama" "$log" '"num_ctx":65536'
expect_contains "alias options merge under the client's" "$log" '"temperature":0.2'
expect_contains "translated to Ollama's native route" "$log" '"path":"/api/chat"'
out=$(api /v1/chat/completions "{\"model\":\"coder\",\"temperature\":0.9,\"stream\":true,\"stream_options\":{\"include_usage\":true},$USER_MSG}")
expect_contains "streamed: SSE deltas" "$out" '"delta":{"content":"Hi! "}'
expect_contains "streamed: finish_reason" "$out" '"finish_reason":"stop"'
expect_contains "streamed: usage chunk" "$out" '"choices":[],"usage"'
expect_eq "streamed: ends with data: [DONE]" "$(echo "$out" | grep -v '^$' | tail -n1)" "data: [DONE]"
log=$(emu "$O_PORT" /_emu/log)
expect_contains "the client's temperature wins over the alias's" "$log" '"temperature":0.9'
emu "$O_PORT" /_emu/reset '{}' > /dev/null
api /v1/chat/completions "{\"model\":\"llama3.2\",$USER_MSG}" > /dev/null
expect_contains "plain names get defaults.context_length" "$(emu "$O_PORT" /_emu/log)" '"num_ctx":262144'
out=$(api /v1/chat/completions "{\"model\":\"deepthink:8b\",\"stream\":true,$USER_MSG}")
expect_contains "Ollama thinking becomes reasoning_content" "$out" '"reasoning_content":"Let me think."'
out=$(api /v1/chat/completions "{\"model\":\"coder\",\"stream\":true,$USER_MSG,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"parameters\":{\"type\":\"object\"}}}]}")
expect_contains "Ollama tool calls become OpenAI deltas with string arguments" "$out" '"tool_calls":[{"id":"call_k3j9x0qa","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a.c\"}"},"index":0}]'
expect_contains "finish_reason tool_calls" "$out" '"finish_reason":"tool_calls"'
out=$(api /v1/completions '{"model":"coder","prompt":"say hi"}')
expect_contains "/v1/completions through /api/generate" "$out" '"text":"Hi! You said: say hi"'
out=$(api /v1/embeddings '{"model":"nomic-embed-text","input":["a","b"]}')
expect_contains "/v1/embeddings through /api/embed" "$out" '"object":"embedding","index":1'

emu "$L_PORT" /_emu/reset '{}' > /dev/null
api /v1/chat/completions "{\"model\":\"lmtuned\",$USER_MSG}" > /dev/null
log=$(emu "$L_PORT" /_emu/log)
expect_contains "alias options reach an OpenAI-compatible server as its fields" "$log" '"temperature":0.3'
expect_contains "num_predict becomes max_tokens" "$log" '"max_tokens":77'
emu "$O_PORT" /_emu/reset '{}' > /dev/null
api /api/embed '{"model":"embedder","input":"x","truncate":false,"options":{"num_thread":2}}' > /dev/null
log=$(emu "$O_PORT" /_emu/log)
expect_contains "/api/embed keeps the client's options and Ollama fields" "$log" '"truncate":false'
expect_contains "and adds the alias context" "$log" '"num_ctx":2048'
expect_contains "without losing the client's options" "$log" '"num_thread":2'

# --- Ollama client ---
out=$(api /api/chat "{\"model\":\"qwen3-coder-30b-a3b-instruct\",$USER_MSG}")
expect_contains "Ollama chat through LM Studio streams NDJSON" "$out" '"message":{"role":"assistant","content":"Hi! "},"done":false'
expect_contains "and ends with done:true and counts" "$out" '"done":true,"done_reason":"stop"'
expect_contains "durations from our own clock" "$out" '"eval_count":5,"eval_duration":'
out=$(api /api/chat "{\"model\":\"local-model\",\"stream\":false,$USER_MSG}")
expect_contains "Ollama chat through llama.cpp, not streamed" "$out" '"message":{"role":"assistant","content":"Hi! You said: hello there"},"done":true'
out=$(api /api/chat "{\"model\":\"gemma-3-12b\",\"stream\":false,$USER_MSG,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\"}}]}")
expect_contains "OpenAI tool-call fragments become one Ollama call with object arguments" "$out" '"tool_calls":[{"id":"call_1","function":{"index":0,"name":"read_file","arguments":{"path":"a.c"}}}]'
emu "$O_PORT" /_emu/reset '{}' > /dev/null
out=$(api /api/chat "{\"model\":\"llama3.2\",$USER_MSG,\"options\":{\"num_ctx\":4096}}")
expect_contains "Ollama to Ollama passes through" "$out" '"model":"llama3.2:latest"'
expect_contains "the client's num_ctx is kept" "$(emu "$O_PORT" /_emu/log)" '"num_ctx":4096'
# A long conversation (4 MB, escapes, non-ASCII, duplicate keys) in one
# dialect: its messages reach the server exactly as the client sent them,
# through the path that copies them as bytes.
node -e '
const text = "é ü \"quoted\" \\ back\nslash\t\u0001 </script> 日本語 ".repeat(40);
const messages = [];
for (let i = 0; i < 2000; i++) messages.push({ role: i % 2 ? "assistant" : "user", content: text + i });
const body = JSON.stringify({ model: "llama3.2", stream: false, messages, options: { top_k: 5 } });
require("fs").writeFileSync(process.argv[1] + "/long.json", body.replace("{", "{\"keep_alive\":\"1m\",\"keep_alive\":\"5m\","));
require("fs").writeFileSync(process.argv[1] + "/long-messages.json", JSON.stringify(messages));
require("fs").writeFileSync(process.argv[1] + "/long-openai.json", JSON.stringify({ model: "local-model", messages, max_tokens: 3 }));
' "$T"
emu "$O_PORT" /_emu/reset '{}' > /dev/null
out=$(curl -s --max-time 20 --unix-socket "$S" http://x/api/chat --data-binary @"$T/long.json")
expect_contains "a 4 MB Ollama conversation is answered" "$out" '"done":true'
emu "$O_PORT" /_emu/log > "$T/long-log.json"
check=$(node -e '
const fs = require("fs");
const [entry] = JSON.parse(fs.readFileSync(process.argv[1] + "/long-log.json"));
const want = fs.readFileSync(process.argv[1] + "/long-messages.json", "utf8");
const b = entry.body;
console.log(JSON.stringify(b.messages) === want && b.model === "llama3.2:latest" && b.stream === true &&
            b.keep_alive === "5m" && b.options.top_k === 5 && b.options.num_ctx === 262144 ? "same" : "differs");
' "$T")
expect_eq "its messages reach Ollama unchanged, with model, stream and num_ctx set" "$check" same
emu "$A_PORT" /_emu/reset '{}' > /dev/null
out=$(curl -s --max-time 20 --unix-socket "$S" http://x/v1/chat/completions --data-binary @"$T/long-openai.json")
expect_contains "a 4 MB OpenAI conversation is answered" "$out" '"finish_reason"'
emu "$A_PORT" /_emu/log > "$T/long-log.json"
check=$(node -e '
const fs = require("fs");
const entry = JSON.parse(fs.readFileSync(process.argv[1] + "/long-log.json")).find(e => e.path.endsWith("/chat/completions"));
const want = fs.readFileSync(process.argv[1] + "/long-messages.json", "utf8");
const b = entry.body;
console.log(JSON.stringify(b.messages) === want && b.stream === true && b.max_tokens === 3 &&
            b.stream_options.include_usage === true ? "same" : "differs");
' "$T")
expect_eq "and to an OpenAI-compatible server" "$check" same
out=$(api /api/generate '{"model":"qwen3-coder-30b-a3b-instruct","prompt":"hi","stream":false}')
expect_contains "/api/generate through LM Studio /v1/completions" "$out" '"response":"Hi! You said: hi"'
out=$(api /api/embed '{"model":"text-embedding-nomic-embed-text-v1.5","input":"x"}')
expect_contains "/api/embed through LM Studio" "$out" '"embeddings":[['
out=$(curl -s --unix-socket "$S" http://x/)
expect_eq "GET / answers like Ollama" "$out" "Ollama is running"
expect_contains "/api/version" "$(curl -s --unix-socket "$S" http://x/api/version)" '"version":"0.'
out=$(api /api/show '{"model":"coder"}')
expect_contains "/api/show passes through to Ollama" "$out" '"qwen3moe.context_length":262144'
out=$(api /api/show '{"model":"qwen3-coder-30b-a3b-instruct"}')
expect_contains "/api/show for LM Studio from its catalogue" "$out" '"qwen3moe.context_length":262144'
out=$(curl -s --unix-socket "$S" http://x/api/ps)
expect_contains "/api/ps gathers Ollama's loaded models" "$out" '"context_length":32768,"provider":"ollama"'
expect_contains "/api/ps adds LM Studio's loaded models" "$out" '"name":"qwen3-coder-30b-a3b-instruct"'
out=$(api /api/pull '{"model":"tinyllama"}')
expect_contains "/api/pull streams Ollama's progress" "$out" '{"status":"success"}'
out=$(api_status /api/pull '{"model":"x@lmstudio"}')
expect_contains "pull on LM Studio says what to run" "$out" 'lms get x'

# --- errors ---
out=$(api_status /v1/chat/completions "{\"model\":\"qwen3-codr:30b\",$USER_MSG}")
expect_contains "unknown model is 404" "$out" $'\n404'
expect_contains "404 lists the closest names" "$out" "closest: qwen3-coder:30b (ollama)"
expect_not_contains "404 does not say to fetch a typo of an installed name" "$out" 'ollama pull qwen3-codr:30b'
expect_contains "404 in OpenAI's dialect" "$out" '"type":"not_found_error"'
out=$(api_status /api/chat "{\"model\":\"nosuch\",$USER_MSG}")
expect_contains "404 in Ollama's dialect" "$out" "{\"error\":\"model 'nosuch' not found on any provider"
out=$(api_status /v1/chat/completions "{\"model\":\"llama3.2@dead\",$USER_MSG}")
expect_contains "refused connection is 502" "$out" $'\n502'
expect_contains "502 names provider, URL and fix" "$out" 'dead at http://127.0.0.1:9 refused the connection: `ollama serve` must be running, or base_url fixed in'
out=$(api_status /v1/chat/completions "{\"model\":\"m@deadlms\",$USER_MSG}")
expect_contains "LM Studio refused: start its server" "$out" 'lms server start'
out=$(api /v1/chat/completions "{\"model\":\"fast\",$USER_MSG}")
expect_contains "failover to the next provider of an alias" "$out" '"content":"Hi! You said: hello there"'
emu "$L_PORT" /_emu/fault '{"status":400,"error":"No models loaded. Please load a model in the developer page or use the lms load command.","count":1}' > /dev/null
out=$(api_status /v1/chat/completions "{\"model\":\"gemma-3-12b\",$USER_MSG}")
expect_contains "upstream 4xx passed on with its status" "$out" $'\n400'
expect_contains "upstream message passed on, provider named" "$out" "lmstudio (http://127.0.0.1:$L_PORT) answered: No models loaded"
emu "$O_PORT" /_emu/fault '{"cold_ms":3000,"count":1}' > /dev/null
out=$(api_status /api/chat "{\"model\":\"slowpoke\",$USER_MSG}")
expect_contains "no first byte in time is 504" "$out" $'\n504'
expect_contains "504 explains cold loads" "$out" "a cold model load can take minutes"
emu "$O_PORT" /_emu/fault '{"stall_after":2,"count":1}' > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"slowpoke\",\"stream\":true,$USER_MSG}")
expect_contains "a stall mid-stream is an in-band error" "$out" 'data: {"error":{"message":"slow at'
expect_contains "naming idle_s" "$out" "stalled for more than 1 s"
expect_not_contains "a stalled stream does not end with [DONE]" "$out" "[DONE]"
emu "$O_PORT" /_emu/fault '{"drop_after":2,"count":1}' > /dev/null
out=$(api /api/chat "{\"model\":\"coder\",$USER_MSG}")
expect_contains "a dropped connection is an in-band Ollama error" "$out" '{"error":"ollama at'
expect_not_contains "a dropped stream has no done:true" "$out" '"done":true'
emu "$O_PORT" /_emu/fault '{"drop_after":2,"count":1}' > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"coder\",\"stream\":true,$USER_MSG}")
expect_contains "a dropped connection is an in-band SSE error" "$out" 'data: {"error":{"message":"ollama at'
emu "$L_PORT" /_emu/fault '{"garbage_after":1,"count":1}' > /dev/null
out=$(api /api/chat "{\"model\":\"gemma-3-12b\",$USER_MSG}")
expect_contains "garbage mid-stream is an in-band error" "$out" 'is not JSON in its stream'
emu "$O_PORT" /_emu/fault '{"bad_utf8_after":1,"count":1}' > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"coder\",\"stream\":true,$USER_MSG}")
expect_contains "bytes that are not UTF-8 mid-stream become an in-band error" "$out" 'is not JSON in its stream (???()'
expect_eq "and the daemon lives on" "$(curl -s --unix-socket "$S" http://x/careti/v1/health)" '{"status":"ok"}'
emu "$O_PORT" /_emu/fault '{"bad_utf8_after":1,"count":1}' > /dev/null
out=$(api_status /v1/chat/completions "{\"model\":\"coder\",$USER_MSG}")
expect_contains "in a gathered answer too, as a 502 in valid JSON" "$out" $'"code":null}}\n\n502'
emu "$L_PORT" /_emu/fault '{"no_done":true,"count":1}' > /dev/null
out=$(api /v1/chat/completions "{\"model\":\"gemma-3-12b\",\"stream\":true,$USER_MSG}")
expect_contains "a stream without [DONE] is reported as cut short" "$out" 'closed the stream before the answer was complete'
emu "$O_PORT" /_emu/fault '{"midstream_error":"out of memory","count":1}' > /dev/null
out=$(api /api/chat "{\"model\":\"coder\",$USER_MSG}")
expect_contains "Ollama's own mid-stream error is passed on" "$out" '{"error":"out of memory"}'
out=$(api_status /v1/chat/completions '{"model":"coder","messages":[{"role":"user","content":"x"}')
expect_contains "invalid JSON is 400 with its position" "$out" 'invalid JSON in the request body at line 1'
out=$(api_status /v1/chat/completions '{"model":"coder"}')
expect_contains "missing messages is 400 naming the field" "$out" 'messages must be a non-empty array'
out=$(api_status /api/chat '{"model":5,"messages":[]}')
expect_contains "ill-typed model is 400 in Ollama's dialect" "$out" '{"error":"model must be a string'
out=$(api_status /v1/chat/completions '{"model":"coder","stream":"yes","messages":[{"role":"user","content":"x"}]}')
expect_contains "ill-typed stream is 400" "$out" 'stream must be true or false'

# --- queueing and cancellation ---
emu "$O_PORT" /_emu/reset '{}' > /dev/null
emu "$O_PORT" /_emu/fault '{"slow_ms":300,"count":1}' > /dev/null
api /api/chat "{\"model\":\"slowpoke\",$USER_MSG}" > "$T/first.out" &
FIRST=$!
# Wait until the first holds the slot: the emulator has its request.
for _ in $(seq 1 100); do
    [[ "$(emu "$O_PORT" /_emu/log)" == *'"path":"/api/chat"'* ]] && break
    sleep 0.05
done
out=$(api_status /api/chat "{\"model\":\"slowpoke\",$USER_MSG}")
expect_contains "beyond max_concurrent and max_queue: 429" "$out" $'\n429'
expect_contains "429 says the queue is full" "$out" "queue of waiting requests is full"
wait "$FIRST"
expect_contains "the request holding the slot completes" "$(cat "$T/first.out")" '"done":true' 
emu "$O_PORT" /_emu/reset '{}' > /dev/null
emu "$O_PORT" /_emu/fault '{"slow_ms":150,"count":2}' > /dev/null
api /api/chat "{\"model\":\"one\",$USER_MSG}" > "$T/q1.out" &
Q1=$!
sleep 0.2
api /api/chat "{\"model\":\"one\",$USER_MSG}" > "$T/q2.out"
wait "$Q1"
expect_contains "queued request (max_queue) is served" "$(cat "$T/q2.out")" '"done":true'
expect_contains "the request ahead of it too" "$(cat "$T/q1.out")" '"done":true'
log=$(emu "$O_PORT" /_emu/log)
order=$(echo "$log" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=JSON.parse(s).filter(e=>e.path==="/api/chat");console.log(l.length===2&&l[1].at>=l[0].closed_at?"fifo":"overlap "+JSON.stringify(l.map(e=>[e.at,e.closed_at])))})')
expect_eq "max_concurrent 1: the second starts after the first ends" "$order" fifo
emu "$O_PORT" /_emu/reset '{}' > /dev/null
emu "$O_PORT" /_emu/fault '{"slow_ms":200,"count":1}' > /dev/null
curl -s -N --max-time 0.7 --unix-socket "$S" http://x/api/chat -d "{\"model\":\"coder\",$USER_MSG}" > /dev/null
gone=$(date +%s%3N)
emu_log_after_close "$O_PORT"
log=$LOG
closed=$(echo "$log" | sed -n 's/.*"closed_at":\([0-9]*\).*/\1/p' | tail -n1)
lag=$((closed - gone))
if [ -n "$closed" ] && [ "$lag" -lt 100 ]; then ok "a client that leaves aborts the upstream (${lag} ms)"
else not_ok "a client that leaves aborts the upstream within 100 ms" "lag ${lag:-none} ms: $log"; fi
expect_contains "the upstream saw an unfinished response" "$log" '"finished":false'

out=$(api_status /v1/chat/completions "{\"model\":\"gemma-3-4b@lmstudio\",$USER_MSG}")
expect_contains "name@provider 404 names that provider" "$out" "model 'gemma-3-4b' not found on lmstudio"
expect_contains "and its own fetch command" "$out" '`lms get gemma-3-4b`, then load it'
out=$(api_status /v1/chat/completions "{\"model\":\"gemma-3-4b@llamacpp\",$USER_MSG}")
expect_contains "an OpenAI-compatible server's 404 says to restart it with -m and -c" "$out" "a restart of llamacpp with \`-m\` naming gemma-3-4b's file and \`-c\`"
expect_contains "and that -np divides the window" "$out" '`-np N` divides -c among N slots'

# --- metrics ---
out=$(curl -s --unix-socket "$S" http://x/metrics)
check "/metrics parses as Prometheus text" bash -c "node '$ROOT/tests/tools/promcheck.mjs' <<< \"\$1\"" _ "$out"
expect_contains "/metrics counts successful requests" "$out" 'careti_requests_total{provider="ollama",model="coder",outcome="ok"}'
expect_contains "/metrics counts errors by kind" "$out" 'kind="connect_refused"} '
expect_contains "/metrics counts unresolved models without a series each" "$out" 'careti_errors_total{provider="",model="",kind="model_not_found"}'
expect_contains "/metrics has the first-token histogram" "$out" 'careti_time_to_first_token_seconds_bucket{provider="ollama",model="coder",le="+Inf"}'
expect_contains "/metrics has the queue gauge" "$out" 'careti_queue_depth 0'
expect_contains "/metrics counts tokens" "$out" 'careti_tokens_total{provider="ollama",model="coder",type="prompt"}'

# --- caretictl ---
out=$("$CARETICTL" --socket "$S" models)
expect_contains "caretictl models shows aliases" "$out" "alias of qwen3-coder:30b@ollama"
expect_contains "caretictl models shows size and quantization" "$out" "18.6 GB Q4_K_M"
expect_contains "caretictl models shows LM Studio's loaded context" "$out" "32768 yes"
expect_contains "caretictl models --json" "$("$CARETICTL" --socket "$S" models --json)" '"id": "gemma-3-12b"'
out=$("$CARETICTL" --socket "$S" ask -m coder hello world 2> "$T/ask.err")
expect_eq "caretictl ask prints the answer" "$out" "Hi! You said: hello world"
out=$(printf 'diff --git a b\n' | "$CARETICTL" --socket "$S" ask -v -m gemma-3-12b review this 2> "$T/ask.err")
expect_contains "caretictl ask attaches piped stdin" "$out" $'review this\n\ndiff --git a b'
expect_contains "caretictl ask -v prints speed" "$(cat "$T/ask.err")" "tokens/s"
"$CARETICTL" --socket "$S" ask -m nosuch hi > /dev/null 2> "$T/ask.err"
expect_eq "caretictl ask fails with exit 1 on an unknown model" "$?" 1
expect_contains "caretictl ask prints the daemon's message" "$(cat "$T/ask.err")" "model 'nosuch' not found"
emu "$O_PORT" /_emu/fault '{"drop_after":2,"count":1}' > /dev/null
"$CARETICTL" --socket "$S" ask -m coder hi > /dev/null 2> "$T/ask.err"
expect_eq "caretictl ask fails when the stream is cut" "$?" 1
expect_contains "and says why" "$(cat "$T/ask.err")" "closed the connection in the middle"
emu "$O_PORT" /_emu/reset '{}' > /dev/null
emu "$O_PORT" /_emu/fault '{"slow_ms":300,"count":1}' > /dev/null
"$CARETICTL" --socket "$S" ask -m coder one two three four five > /dev/null 2>&1 &
ASK=$!
sleep 0.5
kill -INT "$ASK"
wait "$ASK"
expect_eq "Ctrl-C stops caretictl ask with 130" "$?" 130
emu_log_after_close "$O_PORT"
log=$LOG
expect_contains "Ctrl-C aborts the upstream" "$log" '"finished":false'

# Connections to a provider are reused across bursts: a burst that thins
# out must not close the pooled connections the next burst needs.
wave() {
    seq 1 16 | xargs -P 16 -I{} curl -s --max-time 20 --unix-socket "$S" http://x/api/chat \
        -d "{\"model\":\"coder\",\"stream\":false,$USER_MSG}" > /dev/null
}
# Slow answers, so the 16 overlap and end together, as a burst does.
emu "$O_PORT" /_emu/fault '{"slow_ms":30,"count":120}' > /dev/null
# Two bursts first, so the pool has grown to what a burst needs.
wave
wave
c0=$(emu "$O_PORT" /_emu/connections | grep -o '[0-9]*')
for _ in 1 2 3 4; do wave; sleep 0.1; done
c1=$(emu "$O_PORT" /_emu/connections | grep -o '[0-9]*')
emu "$O_PORT" /_emu/reset '{}' > /dev/null
# Each emu call is a connection of its own; a fresh pool would open ~16 per wave.
check "four more bursts of 16 reuse the pooled connections ($((c1 - c0)) new)" test $((c1 - c0)) -le 6

# Idle upstream connections are kept watched between requests; when the
# server closes them the daemon must neither spin nor fail the next one.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for _ in 1 2 3; do api /api/chat "{\"model\":\"coder\",\"stream\":false,$USER_MSG}" > /dev/null; done
emu "$O_PORT" /_emu/close_idle '{}' > /dev/null
sleep 0.2
before=$(cpu_ticks "$DPID")
sleep 1
after=$(cpu_ticks "$DPID")
# A daemon polling a closed socket in a loop burns the whole second (100 ticks).
check "a server closing idle connections does not make the daemon spin" test $((after - before)) -lt 30
out=$(api /api/chat "{\"model\":\"coder\",\"stream\":false,$USER_MSG}")
expect_contains "the next request opens a new connection and succeeds" "$out" '"done":true'
out=$(api /v1/chat/completions "{\"model\":\"coder\",\"stream\":true,$USER_MSG}")
expect_contains "and so does a streamed one" "$out" 'data: [DONE]'

# A provider that goes down stops being listed (a miss refreshes all).
kill "${EMU_PIDS[1]}"
wait "${EMU_PIDS[1]}" 2> /dev/null
api /v1/chat/completions "{\"model\":\"nothing-here\",$USER_MSG}" > /dev/null
out=$(curl -s --unix-socket "$S" http://x/v1/models)
expect_not_contains "an unreachable provider's models are not listed" "$out" '"id":"gemma-3-12b"'
expect_contains "the others still are" "$out" '"id":"llama3.2:latest"'
out=$("$CARETICTL" --socket "$S" status)
expect_contains "caretictl status marks it unreachable" "$out" "lmstudio (lmstudio) http://127.0.0.1:$L_PORT unreachable"

check "daemon stops cleanly" stop_daemon "$DPID"
finish
