#!/usr/bin/env bash
# A model's tool calls survive every path: ask (both dialects), chat and
# session turns, from each kind of provider; they are streamed, stored on
# the reply, returned, shown and exported.  An answer that is only a tool
# call is not empty.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu lmstudio L || exit 1
start_emu openai A || exit 1
write_config "$T/c.yaml" \
    "daemon:" "  state_dir: $T/state" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT\"}" \
    "  - {name: llamacpp, type: openai, base_url: \"http://127.0.0.1:$A_PORT/v1\"}" \
    "models:" \
    "  o: {provider: ollama, model: \"qwen3-coder:30b\"}" \
    "  l: {provider: lmstudio, model: qwen3-coder-30b-a3b-instruct}" \
    "  a: {provider: llamacpp, model: local-model}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
sess() { curl -s -N --max-time 20 --unix-socket "$S" "$@"; }
declare -A PORT=([o]=$O_PORT [l]=$L_PORT [a]=$A_PORT)

for m in o l a; do
    emu "${PORT[$m]}" /_emu/fault '{"tool":true,"count":1}' > /dev/null
    ID=$(sess http://x/careti/v1/sessions -d "{\"model\":\"$m\"}" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
    out=$(sess "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"read a.c"}')
    expect_contains "[$m] a session turn streams the tool call" "$out" $'event: tool_call\ndata: {"id":"'
    expect_contains "[$m]   with its name and parsed arguments" "$out" '"name":"read_file","arguments":{"path":"a.c"}}'
    expect_contains "[$m]   and ends complete" "$out" '"status":"complete"}'
    out=$(sess "http://x/careti/v1/sessions/$ID")
    expect_contains "[$m] the reply stores the call" "$out" '"tool_calls":[{"id":"'
    expect_contains "[$m]   whole" "$out" '"name":"read_file","arguments":{"path":"a.c"}}]'
    out=$(sess "http://x/careti/v1/sessions/$ID/export?format=md")
    expect_contains "[$m] the Markdown export shows it" "$out" 'Tool call: `read_file` `{"path":"a.c"}`'
    out=$(sess "http://x/careti/v1/sessions/$ID/export?format=json")
    expect_contains "[$m] the JSON export carries it" "$out" '"name":"read_file","arguments":{"path":"a.c"}}]'
    emu "${PORT[$m]}" /_emu/reset > /dev/null
    sess "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"go on"}' > /dev/null
    call=$(emu "${PORT[$m]}" /_emu/log | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).find(e=>/chat/.test(e.path));const m=r.body.messages.find(x=>x.tool_calls);console.log(JSON.stringify(m&&m.tool_calls[0].function))})')
    expect_contains "[$m] the next turn sends the stored call back in the request's shape" "$call" '"name":"read_file"'
    if [ "$m" = o ]; then
        expect_contains "[$m]   arguments as an object for Ollama" "$call" '"arguments":{"path":"a.c"}'
    else
        expect_contains "[$m]   arguments as JSON text for an OpenAI-compatible server" "$call" '"arguments":"{\"path\":\"a.c\"}"'
    fi

    emu "${PORT[$m]}" /_emu/fault '{"tool":true,"count":1}' > /dev/null
    out=$("$CARETICTL" --socket "$S" ask -m "$m" "read a.c" 2>&1)
    code=$?
    expect_eq "[$m] caretictl ask exits 0 on an answer that is only a tool call" "$code" 0
    expect_contains "[$m]   and prints the call on a line" "$out" '[tool call] read_file {"path":"a.c"}'

    emu "${PORT[$m]}" /_emu/fault '{"tool":true,"count":1}' > /dev/null
    out=$(echo "read a.c" | "$CARETICTL" --socket "$S" chat -m "$m" 2>&1)
    expect_contains "[$m] caretictl chat prints it too" "$out" '[tool call] read_file {"path":"a.c"}'
done

# Through the model routes, in both dialects (the relay's translation).
tools='"tools":[{"type":"function","function":{"name":"read_file","parameters":{"type":"object"}}}]'
for m in o l a; do
    out=$(sess http://x/api/chat -d "{\"model\":\"$m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],$tools}")
    expect_contains "[$m] /api/chat streams the call in Ollama's shape" "$out" '"tool_calls":[{'
    expect_contains "[$m]   with parsed arguments" "$out" '"arguments":{"path":"a.c"}'
    out=$(sess http://x/v1/chat/completions -d "{\"model\":\"$m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],$tools}")
    expect_contains "[$m] /v1/chat/completions streams it in OpenAI's" "$out" '"delta":{"tool_calls":[{'
    expect_contains "[$m]   with its function's name" "$out" '"function":{"name":"read_file"'
    expect_contains "[$m]   and ends with finish_reason tool_calls" "$out" '"finish_reason":"tool_calls"'
done
# A failed turn's question is not asked again with the next message.
ID=$(sess http://x/careti/v1/sessions -d '{"model":"o"}' | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
emu "$O_PORT" /_emu/fault '{"status":500,"error":"model crashed","count":1}' > /dev/null
out=$(sess "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"the lost question"}')
expect_contains "a turn the server fails ends in error" "$out" '"status":"error"}'
emu "$O_PORT" /_emu/reset > /dev/null
out=$(sess "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"the next question"}')
expect_contains "the next turn completes" "$out" '"status":"complete"}'
log=$(emu "$O_PORT" /_emu/log)
expect_contains "the next turn asks its own question" "$log" 'the next question'
expect_not_contains "and not the failed turn's again" "$log" 'the lost question'
out=$(sess "http://x/careti/v1/sessions/$ID")
expect_contains "which stays in the history" "$out" '"content":"the lost question"'
check "daemon stops cleanly" stop_daemon "$DPID"

finish
