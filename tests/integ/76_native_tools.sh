#!/usr/bin/env bash
# Whether a model takes the agent's tools natively, as each kind of server
# says (Ollama's capabilities, LM Studio's tool_use, llama.cpp's /props)
# or as an alias's tools key says: decided when the model is looked up,
# asked once, kept with the catalogue, and "text" when a server cannot
# say.  Observed as the tools field of GET /v1/models.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu ollama O2 || exit 1
start_emu lmstudio L || exit 1
start_emu openai A || exit 1
start_emu openai B || exit 1
start_emu openai C || exit 1
# Before the daemon's first model list: O2 lists capabilities in /api/tags
# (recent Ollama), B has no /props (vLLM), C's template cannot call tools.
emu "$O2_PORT" /_emu/fault '{"tags_caps":true}' > /dev/null
emu "$B_PORT" /_emu/fault '{"props":"none"}' > /dev/null
emu "$C_PORT" /_emu/fault '{"props":"notools"}' > /dev/null
write_config "$T/c.yaml" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: ollama2, type: ollama, base_url: \"http://127.0.0.1:$O2_PORT\"}" \
    "  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT\"}" \
    "  - {name: llamacpp, type: openai, base_url: \"http://127.0.0.1:$A_PORT/v1\"}" \
    "  - {name: vllm, type: openai, base_url: \"http://127.0.0.1:$B_PORT/v1\"}" \
    "  - {name: notools, type: openai, base_url: \"http://127.0.0.1:$C_PORT/v1\"}" \
    "models:" \
    "  forced: {provider: ollama, model: \"nomic-embed-text\", tools: native}" \
    "  plain: {provider: ollama, model: \"qwen3-coder:30b\", tools: text}" \
    "  coder: {provider: ollama, model: \"qwen3-coder:30b\"}" \
    "  fast: {provider: ollama, model: \"llama3.2\"}" \
    "  lms: {provider: lmstudio, model: \"qwen3-coder-30b-a3b-instruct\", tools: auto}" \
    "  both: {provider: [lmstudio, ollama2], model: \"gemma-3-12b\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

# tools_of ID PROVIDER: the tools field of /v1/models' entry ID (of
# PROVIDER, or an alias when PROVIDER is "alias"); empty when absent.
tools_of() {
    curl -s --unix-socket "$S" http://x/v1/models |
        jq -r --arg id "$1" --arg p "$2" \
            '.data[] | select(.id == $id and (if $p == "alias" then .alias_of != null else .owned_by == $p end)) | .tools // ""'
}
# shows PORT: how many POST /api/show an emulator has received.
shows() { emu "$1" /_emu/log | jq '[.[] | select(.path == "/api/show")] | length'; }
props() { emu "$1" /_emu/log | jq '[.[] | select(.path == "/props")] | length'; }
# look_up NAME: a request that resolves NAME (answered without generating).
look_up() { api_status /api/show "{\"model\":\"$1\"}" | tail -n1; }

# --- Ollama: /api/show's capabilities, asked at the first lookup ---
expect_eq "Ollama is not asked before a lookup" "$(shows "$O_PORT")" 0
expect_eq "so the model's answer is not known yet" "$(tools_of "qwen3-coder:30b" ollama)" ""
expect_eq "the alias on it is not known either" "$(tools_of coder alias)" ""
expect_eq "a lookup succeeds" "$(look_up "qwen3-coder:30b@ollama")" 200
expect_eq "capabilities with tools: native" "$(tools_of "qwen3-coder:30b" ollama)" native
probe=$(emu "$O_PORT" /_emu/log | jq -c '[.[] | select(.path == "/api/show")][0].body')
expect_eq "Ollama is asked with POST /api/show {model}" "$probe" '{"model":"qwen3-coder:30b"}'
expect_eq "one probe plus the relayed show" "$(shows "$O_PORT")" 2
look_up "qwen3-coder:30b@ollama" > /dev/null
look_up "coder" > /dev/null
expect_eq "asked once: later lookups send the relayed shows alone" "$(shows "$O_PORT")" 4
expect_eq "an alias with tools: auto follows its server" "$(tools_of coder alias)" native
look_up fast > /dev/null
expect_eq "an alias naming an Ollama model without its :latest" "$(tools_of fast alias)" native
n=$(shows "$O_PORT")
emu "$O_PORT" /_emu/fault '{"show_ms":300}' > /dev/null
look_up "deepthink:8b@ollama" > /dev/null &
look_up "deepthink:8b@ollama" > /dev/null
wait $!
emu "$O_PORT" /_emu/fault '{}' > /dev/null
expect_eq "lookups at once share one probe" "$(shows "$O_PORT")" $((n + 3))
look_up "nomic-embed-text@ollama" > /dev/null
expect_eq "capabilities without tools: text" "$(tools_of "nomic-embed-text:latest" ollama)" text

# --- aliases that say ---
expect_eq "tools: native wins over a server that says no" "$(tools_of forced alias)" native
expect_eq "tools: text wins over a server that says yes" "$(tools_of plain alias)" text

# --- Ollama listing capabilities in /api/tags: nothing to ask ---
expect_eq "tags with capabilities: native" "$(tools_of "qwen3-coder:30b" ollama2)" native
expect_eq "tags with capabilities: text" "$(tools_of "nomic-embed-text:latest" ollama2)" text
expect_eq "and no /api/show is sent" "$(shows "$O2_PORT")" 0

# --- LM Studio: the model list's capabilities ---
expect_eq "LM Studio tool_use: native" "$(tools_of qwen3-coder-30b-a3b-instruct lmstudio)" native
expect_eq "LM Studio without tool_use: text" "$(tools_of gemma-3-12b lmstudio)" text
expect_eq "LM Studio without capabilities: text" "$(tools_of text-embedding-nomic-embed-text-v1.5 lmstudio)" text
expect_eq "an alias on LM Studio" "$(tools_of lms alias)" native
# gemma-3-12b: text on lmstudio, and ollama2 does not have it.
expect_eq "an alias is native only when every provider says so" "$(tools_of both alias)" text

# --- llama.cpp and other OpenAI-compatible servers: /props ---
expect_eq "llama.cpp is not asked before a lookup" "$(props "$A_PORT")" 0
expect_eq "a lookup on llama.cpp succeeds" "$(look_up "local-model@llamacpp")" 200
expect_eq "supports_tool_calls: native" "$(tools_of local-model llamacpp)" native
expect_eq "GET /props was asked once" "$(props "$A_PORT")" 1
expect_eq "a server without /props: the lookup still succeeds" "$(look_up "local-model@vllm")" 200
expect_eq "and it is text" "$(tools_of local-model vllm)" text
look_up "local-model@notools" > /dev/null
expect_eq "supports_tool_calls false: text" "$(tools_of local-model notools)" text

# --- kept across catalogue refreshes ---
# A miss refreshes every catalogue.
expect_eq "a miss is 404" "$(look_up "no-such-model")" 404
expect_eq "the answer survives the refresh" "$(tools_of "qwen3-coder:30b" ollama)" native
n=$(shows "$O_PORT")
look_up "qwen3-coder:30b@ollama" > /dev/null
expect_eq "without asking Ollama again (the relayed show alone)" "$(shows "$O_PORT")" $((n + 1))
look_up "local-model@llamacpp" > /dev/null
expect_eq "nor llama.cpp" "$(props "$A_PORT")" 1

# --- a daemon stopping while a lookup waits for a probe ---
emu "$O_PORT" /_emu/reset '{}' > /dev/null
emu "$O_PORT" /_emu/fault '{"show_ms":5000}' > /dev/null
look_up "smallctx:7b@ollama" > "$T/cut.out" &
cut=$!
for _ in $(seq 1 100); do [ "$(shows "$O_PORT")" -ge 1 ] && break; sleep 0.05; done
expect_eq "the probe is on its way" "$(shows "$O_PORT")" 1
stop_daemon "$DPID"
expect_eq "the daemon stops cleanly meanwhile" "$?" 0
wait "$cut"
finish
