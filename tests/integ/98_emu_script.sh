#!/usr/bin/env bash
# The emulator's scripted replies, driven directly (no daemon): the queue
# is served in order; pieces cut at every byte reassemble to the text byte
# for byte, multi-byte characters whole; native calls come in each
# dialect's streamed shape; a request that misses a reply's expect gets a
# 500 saying why; cache_n counts the prompt shared with the previous
# request; pieces_sent stops when the client hangs up; the servers say
# which models take tools.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu openai A || exit 1
start_emu lmstudio L || exit 1

# js CODE: run CODE with the standard input as the string s.
js() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{$1})"; }
# ochat JSON / achat JSON: one chat request to the Ollama / OpenAI emulator.
ochat() { curl -s --max-time 10 "http://127.0.0.1:$O_PORT/api/chat" -d "$1"; }
achat() { curl -s --max-time 10 "http://127.0.0.1:$A_PORT/v1/chat/completions" -d "$1"; }
# The texts of a stream: Ollama's NDJSON lines, the OpenAI data: events.
OLINES='const L=s.trim().split("\n").map(JSON.parse);'
AEVENTS='const L=s.split("\n").filter(l=>l.startsWith("data: {")).map(l=>JSON.parse(l.slice(6)));'
# The last log entry of a chat request.
last_entry() { emu "$1" /_emu/log | js 'const l=JSON.parse(s).filter(e=>/chat/.test(e.path)); const e=l[l.length-1]; delete e.body; console.log(JSON.stringify(e))'; }
field() { js "console.log(JSON.parse(s).$1)"; }

MSG='"messages":[{"role":"user","content":"hi"}]'
OM="{\"model\":\"qwen3-coder:30b\",$MSG}"

# -- The queue, in order, then the canned reply again.
out=$(emu "$O_PORT" /_emu/script '{"replies":[{"content":"first"},{"content":"second"}]}')
expect_contains "POST /_emu/script queues the replies" "$out" '"remaining":2'
emu "$O_PORT" /_emu/script '{"replies":[{"content":"third"}]}' > /dev/null
expect_eq "GET /_emu/script counts what waits" "$(emu "$O_PORT" /_emu/script)" '{"remaining":3,"served":0}'
got=""
for _ in 1 2 3 4; do got+="$(ochat "$OM" | js "$OLINES console.log(L.map(o=>o.message.content).join(''))")|"; done
expect_eq "replies are served in order, then the canned one" "$got" "first|second|third|Hi! You said: hi|"
expect_eq "and counted" "$(emu "$O_PORT" /_emu/script)" '{"remaining":0,"served":3}'
emu "$O_PORT" /_emu/script '{"replies":[{"content":"dropped"}]}' > /dev/null
emu "$O_PORT" /_emu/script '{"replace":true,"replies":[{"content":"kept"}]}' > /dev/null
expect_eq "replace drops the waiting replies" "$(ochat "$OM" | js "$OLINES console.log(L.map(o=>o.message.content).join(''))")" "kept"
emu "$O_PORT" /_emu/script '{"replies":[{"content":"x"}]}' > /dev/null
emu "$O_PORT" /_emu/reset '{}' > /dev/null
expect_eq "reset empties the queue" "$(emu "$O_PORT" /_emu/script)" '{"remaining":0,"served":0}'
out=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$O_PORT/_emu/script" -d '{"replies":"no"}')
expect_contains "a queue that is not a list of replies is refused" "$out" 'must be an array of objects"} 400'

# -- chunk_bytes 1: every piece is one character, and they join to the text.
TEXT='Voilà: <read_file><path>naïve/日本.c</path></read_file> 😀
<tool_call><function=read_file><parameter=path>
a.c
</parameter></function></tool_call>'
REPLY=$(TEXT="$TEXT" node -e 'console.log(JSON.stringify({replies:[{thinking:"Pensé…",content:process.env.TEXT,chunk_bytes:1}]}))')
emu "$O_PORT" /_emu/script "$REPLY" > /dev/null
out=$(ochat "$OM" | TEXT="$TEXT" js "$OLINES
  const c=L.filter(o=>!o.done&&o.message.content).map(o=>o.message.content);
  const t=L.filter(o=>o.message.thinking).map(o=>o.message.thinking);
  const one=c.concat(t).every(p=>[...p].length===1);
  const exact=Buffer.from(c.join('')).equals(Buffer.from(process.env.TEXT));
  console.log(exact, t.join('')==='Pensé…', one, L[L.length-1].eval_count===c.length+t.length)")
expect_eq "[ollama] 1-byte pieces join to the text byte for byte, thinking first, one token each" "$out" "true true true true"
emu "$A_PORT" /_emu/script "$REPLY" > /dev/null
out=$(achat "{\"stream\":true,\"stream_options\":{\"include_usage\":true},$MSG}" | TEXT="$TEXT" js "$AEVENTS
  const d=L.filter(o=>o.choices.length).map(o=>o.choices[0].delta);
  const c=d.filter(x=>x.content).map(x=>x.content), t=d.filter(x=>x.reasoning_content).map(x=>x.reasoning_content);
  const one=c.concat(t).every(p=>[...p].length===1);
  const exact=Buffer.from(c.join('')).equals(Buffer.from(process.env.TEXT));
  console.log(exact, t.join('')==='Pensé…', one, L[L.length-1].usage.completion_tokens===c.length+t.length)")
expect_eq "[openai] 1-byte pieces join to the text byte for byte, reasoning first, one token each" "$out" "true true true true"
emu "$A_PORT" /_emu/script '{"replies":[{"content":"ab€","chunk_bytes":2}]}' > /dev/null
out=$(achat "{\"stream\":true,$MSG}" | js "$AEVENTS console.log(JSON.stringify(L.map(o=>o.choices[0].delta.content).filter(x=>x)))")
expect_eq "a piece never ends inside a character" "$out" '["ab","€"]'

# -- Native calls in each dialect's shape.
CALLS='{"replies":[{"content":"Reading.","tool_calls":[{"name":"read_file","arguments":{"path":"src/ä.c"}},{"name":"list_files","arguments":{"path":"."},"id":"call_x"}]}]}'
emu "$O_PORT" /_emu/script "$CALLS" > /dev/null
out=$(ochat "{\"model\":\"qwen3-coder:30b\",$MSG}" | js "$OLINES
  const w=L.filter(o=>o.message.tool_calls);
  console.log(w.length, JSON.stringify(w[0].message.tool_calls.map(c=>c.function)), w[0].message.tool_calls[1].id, L[L.length-1].done)")
expect_eq "[ollama] the calls whole in one chunk, arguments as objects" "$out" \
    '1 [{"index":0,"name":"read_file","arguments":{"path":"src/ä.c"}},{"index":1,"name":"list_files","arguments":{"path":"."}}] call_x true'
emu "$A_PORT" /_emu/script "$CALLS" > /dev/null
out=$(achat "{\"stream\":true,$MSG}" | js "$AEVENTS
  const tc=L.flatMap(o=>o.choices.flatMap(c=>c.delta.tool_calls||[]));
  const heads=tc.filter(t=>t.id);
  const args=i=>tc.filter(t=>t.index===i).map(t=>t.function.arguments).join('');
  const argChunks=tc.filter(t=>!t.id).length;
  console.log(JSON.stringify(heads.map(h=>[h.index,h.id&&true,h.type,h.function.name,h.function.arguments])), args(0), args(1), argChunks>2,
    L.find(o=>o.choices[0]?.finish_reason).choices[0].finish_reason)")
expect_eq "[openai] each call: a head with id and name and no arguments, then the arguments in pieces" "$out" \
    '[[0,true,"function","read_file",""],[1,true,"function","list_files",""]] {"path":"src/ä.c"} {"path":"."} true tool_calls'
emu "$A_PORT" /_emu/script "$CALLS" > /dev/null
out=$(achat "{$MSG}" | js 'const m=JSON.parse(s).choices[0]; const c=m.message.tool_calls[0]; console.log(m.finish_reason, m.message.content, /^call_/.test(c.id), JSON.stringify(c.function))')
expect_eq "[openai] a whole answer carries the calls with string arguments" "$out" \
    'tool_calls Reading. true {"name":"read_file","arguments":"{\"path\":\"src/ä.c\"}"}'

# -- expect: a request that differs is a loud 500, one that matches is answered.
emu "$O_PORT" /_emu/script '{"replies":[{"content":"x","expect":{"tools":true,"last_role":"tool","contains":"a.c"}}]}' > /dev/null
out=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$O_PORT/api/chat" -d "$OM")
expect_contains "a mismatch is HTTP 500" "$out" '} 500'
expect_contains "naming what was expected and what came" "$out" 'expected tools true, got none; last_role \"tool\", got \"user\"; messages containing \"a.c\", got none'
expect_contains "and the log says so" "$(last_entry "$O_PORT")" '"script_error":"emulator script, reply '
emu "$A_PORT" /_emu/script '{"replies":[{"content":"ok","expect":{"tools":false,"last_role":"user","contains":["hi"]}}]}' > /dev/null
out=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$A_PORT/v1/chat/completions" -d "{$MSG}")
expect_contains "a request that matches is answered" "$out" '"content":"ok"'
expect_contains "with 200" "$out" '} 200'
emu "$A_PORT" /_emu/script '{"replies":[{"content":"ok","expect":{"tool":true}}]}' > /dev/null
out=$(achat "{$MSG}")
expect_contains "an unknown expect key is a mismatch, not ignored" "$out" 'expected a known expect key'

# -- cache_n: the tools and the first messages the second request repeats.
TOOLS='"tools":[{"type":"function","function":{"name":"read_file","parameters":{"type":"object"}}}]'
SYS='{"role":"system","content":"You are a careful coding agent; read before you edit, and say what you changed."}'
R1="{\"model\":\"qwen3-coder:30b\",$TOOLS,\"messages\":[$SYS,{\"role\":\"user\",\"content\":\"fix a.c\"}]}"
R2="{\"model\":\"qwen3-coder:30b\",$TOOLS,\"messages\":[$SYS,{\"role\":\"user\",\"content\":\"fix a.c\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"a.c\"}}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"int main(void) { return 0; }\"}]}"
emu "$O_PORT" /_emu/reset '{}' > /dev/null
emu "$O_PORT" /_emu/script '{"replies":[{"content":"a"},{"content":"b"}]}' > /dev/null
ochat "$R1" > /dev/null
e1=$(last_entry "$O_PORT")
ochat "$R2" > /dev/null
e2=$(last_entry "$O_PORT")
expect_eq "the first request has nothing cached" "$(field cache_n <<< "$e1")" 0
expect_eq "the second reuses every byte of the first" "$(field cache_bytes <<< "$e2")" "$(field prompt_bytes <<< "$e1")"
out=$(js 'const e=JSON.parse(s); console.log(e.cache_n>0 && e.cache_n<e.prompt_n, e.cache_n===Math.floor(e.prompt_n*e.cache_bytes/e.prompt_bytes))' <<< "$e2")
expect_eq "cache_n is that share of prompt_n" "$out" "true true"
A1=${R1/\"qwen3-coder:30b\"/\"local-model\",\"stream\":true}
A2=${R2/\"qwen3-coder:30b\"/\"local-model\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}
achat "$A1" > /dev/null
out=$(achat "$A2" | js "$AEVENTS const t=L.filter(o=>o.timings); const u=L[L.length-1]; console.log(t.length, t[0]===u, u.choices.length, JSON.stringify(t[0].timings))")
a2=$(last_entry "$A_PORT")
expect_contains "[openai] timings ride on the last chunk (the usage one)" "$out" "1 true 0 "
expect_contains "[openai] timings.cache_n is the log's" "$out" "\"cache_n\":$(field cache_n <<< "$a2"),"
expect_contains "[openai] timings.prompt_n is what was evaluated, the cached part left out" "$out" \
    "\"prompt_n\":$(js 'const e=JSON.parse(s); console.log(e.prompt_n-e.cache_n)' <<< "$a2"),"
out=$(achat "${A2/\"stream\":true,/}" | js 'const o=JSON.parse(s); console.log(o.timings.cache_n+o.timings.prompt_n===o.usage.prompt_tokens, o.timings.predicted_n===o.usage.completion_tokens)')
expect_eq "[openai] a whole answer has timings too, cache_n + prompt_n the whole prompt" "$out" "true true"
out=$(curl -s "http://127.0.0.1:$A_PORT/v1/chat/completions" -d "{\"stream\":true,$MSG}" | tail -n 4 | head -n 1)
expect_contains "[openai] without include_usage, timings ride on the finish chunk" "$out" '"finish_reason":"stop"}],"timings":{"cache_n":'

# -- A client that hangs up: the model stops there.  20 pieces 100 ms
# apart; the client leaves after 0.45 s, between two of them.
emu "$O_PORT" /_emu/script '{"replies":[{"content":"one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty","slow_ms":100}]}' > /dev/null
start=$(date +%s%N)
curl -s --max-time 0.45 "http://127.0.0.1:$O_PORT/api/chat" -d "$OM" > "$T/cut.out"
for _ in $(seq 1 60); do
    e=$(last_entry "$O_PORT")
    [[ "$e" == *'"closed_at":1'* ]] && break
    sleep 0.05
done
out=$(js 'const e=JSON.parse(s); console.log(e.closed_early, e.pieces_total, e.pieces_sent>0 && e.pieces_sent<e.pieces_total)' <<< "$e")
expect_eq "a client that leaves early: closed_early, pieces_sent < pieces_total" "$out" "true 20 true"
# A piece written as the client closed is counted but not received.
out=$(js "const e=JSON.parse(s); const d=e.pieces_sent-$(wc -l < "$T/cut.out"); console.log(d===0||d===1)" <<< "$e")
expect_eq "the client got the pieces counted, but for at most one in flight" "$out" true
# Nothing may be written after it left: watch until the whole reply
# would have been streamed (2 s after the start).
sent=$(field pieces_sent <<< "$e")
while [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2200 ]; do
    [ "$(last_entry "$O_PORT" | field pieces_sent)" != "$sent" ] && break
    sleep 0.1
done
expect_eq "and no piece is written after it left" "$(last_entry "$O_PORT" | field pieces_sent)" "$sent"
out=$(curl -s "http://127.0.0.1:$O_PORT/api/chat" -d "$OM" > /dev/null; last_entry "$O_PORT")
expect_contains "a canned reply counts its pieces too" "$out" '"pieces_total":4,"pieces_sent":4,"closed_early":false'

# -- What each server says about tools.
out=$(curl -s "http://127.0.0.1:$O_PORT/api/show" -d '{"model":"plaincoder:7b"}')
expect_contains "[ollama] a model without tools says only completion" "$out" '"capabilities":["completion"]}'
out=$(curl -s "http://127.0.0.1:$O_PORT/api/show" -d '{"model":"qwen3-coder:30b"}')
expect_contains "[ollama] the others keep tools" "$out" '"capabilities":["completion","tools"]}'
out=$(curl -s "http://127.0.0.1:$L_PORT/api/v0/models")
expect_contains "[lmstudio] the coder says tool_use" "$out" '"loaded_context_length":32768,"capabilities":["tool_use"]}'
out=$(curl -s "http://127.0.0.1:$A_PORT/props" | js 'const p=JSON.parse(s); console.log(p.chat_template_caps.supports_tool_calls, p.default_generation_settings.n_ctx)')
expect_eq "[openai] /props: the template supports tool calls, and the context" "$out" "true 8192"

finish
