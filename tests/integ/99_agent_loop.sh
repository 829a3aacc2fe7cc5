#!/usr/bin/env bash
# The coding agent's tool loop through the real daemon and the scripted
# model server: a task that reads, edits, runs a command and completes;
# text-form and native calls; the model stopped at its call; mistakes,
# loops, max_steps; plan mode; every step stored.
. "$(dirname "$0")/lib.sh"

start_emu ollama OLL || exit 1
W="$T/ws"
mkdir -p "$W/src"
printf 'int main(void)\n{\n    return 1;\n}\n' > "$W/src/main.c"
write_config "$T/cfg.yaml" \
    "daemon:" "  state_dir: $T/state" \
    "providers:" "  - name: ollama" "    type: ollama" "    base_url: http://127.0.0.1:$OLL_PORT" \
    "models:" "  coder:" "    provider: ollama" "    model: qwen3-coder:30b" "    tools: text" \
    "  native:" "    provider: ollama" "    model: qwen3-coder:30b" "    tools: native" \
    "defaults:" "  model: coder" \
    "agent:" "  approvals:" "    read: auto" "    edit: auto" "    command: auto" "  max_steps: 6"
check "daemon starts" start_daemon "$T/d" "$T/cfg.yaml"
S="$T/d/caretid.sock"
wait_store_open "$S"

json() { node -e "$1"; }
new_session() { api /careti/v1/sessions "$1" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'; }
# script REPLIES_JSON: queue the model's next answers.
script() { emu "$OLL_PORT" /_emu/script "{\"replace\":true,\"replies\":$1}" > /dev/null; }
events() { printf '%s\n' "$1" | sed -n 's/^event: //p' | uniq | tr '\n' ' '; }
# deltas SSE: the text of its delta events, joined.
deltas() { printf '%s\n' "$1" | sed -n 's/^data: //p' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let t="";for(const l of s.split("\n")){if(!l)continue;const j=JSON.parse(l);if(typeof j.content==="string"&&Object.keys(j).length===1)t+=j.content}process.stdout.write(t)})'; }

out=$(api_status /careti/v1/sessions '{"mode":"act"}')
expect_contains "act mode without a workspace is 400" "$out" "needs a workspace"
out=$(api_status /careti/v1/sessions "{\"mode\":\"act\",\"workspace\":\"$T/nowhere\"}")
expect_contains "a workspace that does not exist is 400" "$out" "give an existing directory"
out=$(api_status /careti/v1/sessions "{\"mode\":\"yolo\",\"workspace\":\"$W\"}")
expect_contains "an unknown mode is 400" "$out" "mode must be chat, act or plan"
ln -s "$W" "$T/link"
SID=$(new_session "{\"mode\":\"act\",\"workspace\":\"$T/link/\"}")
got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID")
expect_contains "the workspace is stored as its real path" "$got" "\"workspace\":\"$W\""
expect_contains "and the mode" "$got" '"mode":"act"'
CHAT=$(new_session '{}')
out=$(curl -s -w '\n%{http_code}' --unix-socket "$S" -X PATCH "http://x/careti/v1/sessions/$CHAT" -d '{"mode":"act"}')
expect_contains "PATCH to act mode without a workspace is 400" "$out" "needs a workspace"
out=$(curl -s -w '\n%{http_code}' --unix-socket "$S" -X PATCH "http://x/careti/v1/sessions/$SID" -d "{\"workspace\":\"$T/nowhere\"}")
expect_contains "PATCH of an agent session's workspace to nowhere is 400" "$out" "give an existing directory"
out=$(curl -s --unix-socket "$S" -X PATCH "http://x/careti/v1/sessions/$CHAT" -d "{\"mode\":\"plan\",\"workspace\":\"$T/link\"}")
expect_contains "PATCH to plan mode with a workspace stores its real path" "$out" "\"workspace\":\"$W\""

# A whole task: read, edit, run, complete; each reply cut into 7-byte pieces.
R1='I will read it.\n<read_file>\n<path>src/main.c</path>\n</read_file>\nTHIS IS NEVER SEEN'
R2='<replace_in_file>\n<path>src/main.c</path>\n<diff>\n------- SEARCH\n    return 1;\n=======\n    return 0;\n+++++++ REPLACE\n</diff>\n</replace_in_file>'
R3='<tool_call>\n<function=execute_command>\n<parameter=command>\ngrep -c \"return 0\" src/main.c\n</parameter>\n</function>\n</tool_call>'
R4='<attempt_completion>\n<result>main now returns 0.</result>\n</attempt_completion>'
script "[{\"content\":\"$R1\",\"chunk_bytes\":7,\"slow_ms\":20},{\"content\":\"$R2\",\"chunk_bytes\":7},{\"content\":\"$R3\",\"chunk_bytes\":7,\"expect\":{\"contains\":\"return 0;\"}},{\"content\":\"$R4\",\"chunk_bytes\":7}]"
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"make main return 0"}')
expect_eq "the turn's events, in order" "$(events "$out")" \
    "message step delta tool_call usage tool_result step tool_call usage tool_result step tool_call usage tool_output tool_result step tool_call usage completion tool_result done "
expect_eq "the text before the call streams, and nothing after" "$(deltas "$out")" "I will read it."
expect_not_contains "nothing after the call is kept" "$out" "NEVER SEEN"
expect_contains "the call, parsed" "$out" '"name":"read_file","arguments":{"path":"src/main.c"}'
expect_contains "the edit's result has its diff" "$out" '+    return 0;'
expect_contains "the command's output streams" "$out" 'event: tool_output'
expect_contains "the completion" "$out" '"result":"main now returns 0."'
expect_contains "done: completed in 4 steps, 1 file changed" "$out" '"stop_reason":"completed","steps":4,"files_changed":1'
check "the file was edited" grep -q "return 0;" "$W/src/main.c"
log=$(emu "$OLL_PORT" /_emu/log)
n=$(echo "$log" | json 'let l=JSON.parse(require("fs").readFileSync(0));const c=l.filter(e=>e.path=="/api/chat");console.log(c[0].pieces_total-c[0].pieces_sent>0?"stopped":"ran on")')
expect_eq "the model was stopped at its call" "$n" "stopped"
first=$(echo "$log" | json 'let l=JSON.parse(require("fs").readFileSync(0));const c=l.filter(e=>e.path=="/api/chat");console.log(JSON.stringify(c[0].body.messages[1].content))')
expect_contains "the first message carries the environment" "$first" "<environment>"
expect_contains "  with the workspace" "$first" "Workspace: $W"
sys=$(echo "$log" | json 'let l=JSON.parse(require("fs").readFileSync(0));const c=l.filter(e=>e.path=="/api/chat");console.log(new Set(c.map(e=>e.body.messages[0].content)).size)')
expect_eq "the system prompt is the same bytes at every step" "$sys" "1"
cache=$(echo "$log" | json 'let l=JSON.parse(require("fs").readFileSync(0));const c=l.filter(e=>e.path=="/api/chat");console.log(c.slice(1).every((e,i)=>e.cache_n>=c[i].prompt_n-8)?"prefix kept":"prefix changed")')
expect_eq "each request begins with the one before it" "$cache" "prefix kept"
numctx=$(echo "$log" | json 'let l=JSON.parse(require("fs").readFileSync(0));const c=l.filter(e=>e.path=="/api/chat");console.log(c.every(e=>e.body.options&&e.body.options.num_ctx>0))')
expect_eq "every step goes to /api/chat with num_ctx" "$numctx" "true"

got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID")
roles=$(echo "$got" | json 'let s=JSON.parse(require("fs").readFileSync(0));console.log(s.messages.map(m=>m.role).join(","))')
expect_eq "every step and result is stored" "$roles" "user,assistant,tool,assistant,tool,assistant,tool,assistant,tool"
expect_contains "the turn's message says how it ended" "$got" '"stop_reason":"completed"'
chg=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID/changes")
expect_contains "the change is listed" "$chg" '"path":"src/main.c","existed":true,"added":1,"removed":1'

# Undo puts the file back; a second undo has nothing left.
out=$(api_status "/careti/v1/sessions/$SID/undo" '{}')
expect_contains "undo restores the file" "$out" '"action":"restored"'
check "  and the file is as before" grep -q "return 1;" "$W/src/main.c"
out=$(api_status "/careti/v1/sessions/$SID/undo" '{}')
expect_contains "nothing more to undo is 404" "$out" "404"

# Native calls; a mistake; the same call three times is a loop.
SID2=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W\",\"model\":\"native\"}")
script '[{"content":"thinking aloud, no tool"},{"tool_calls":[{"name":"list_files","arguments":{"path":"."}}],"expect":{"tools":true,"contains":"[ERROR] You answered without using a tool."}},{"tool_calls":[{"name":"list_files","arguments":{"path":"."}}]},{"tool_calls":[{"name":"list_files","arguments":{"path":"."}}]}]'
out=$(api "/careti/v1/sessions/$SID2/messages" '{"content":"look around"}')
expect_contains "a native call runs" "$out" '"tool":"list_files","ok":true'
expect_contains "the same call 3 times stops the turn as a loop" "$out" '"stop_reason":"needs_user","reason":"the model made the same list_files call 3 times in a row: a loop"'
log=$(emu "$OLL_PORT" /_emu/log)
tools=$(echo "$log" | json 'let l=JSON.parse(require("fs").readFileSync(0));const c=l.filter(e=>e.path=="/api/chat");console.log(c.at(-1).body.tools.map(t=>t.function.name).join(","))')
expect_eq "native requests carry the tools" "$tools" "read_file,list_files,search_files,write_to_file,replace_in_file,execute_command,ask_followup_question,attempt_completion"

# Three mistakes in a row: needs_user.
script '[{"content":"<read_file><path>../../etc/passwd</path></read_file>"},{"content":"<read_file><path>/etc/shadow</path></read_file>"},{"content":"<read_file></read_file>"}]'
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"read outside"}')
expect_contains "a path outside the workspace is refused, for the model" "$out" '"ok":false'
expect_contains "3 mistakes in a row stop the turn" "$out" '"stop_reason":"needs_user","reason":"3 mistakes in a row'
check "and nothing outside was read" test "$(grep -c root "$T/d/log")" -eq 0

# max_steps (6 here).
script '[{"content":"<list_files><path>.</path></list_files>"},{"content":"<list_files><path>src</path></list_files>"},{"content":"<read_file><path>src/main.c</path></read_file>"},{"content":"<list_files><path>.</path></list_files>"},{"content":"<list_files><path>src</path></list_files>"},{"content":"<read_file><path>src/main.c</path></read_file>"},{"content":"<list_files><path>.</path></list_files>"}]'
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"wander"}')
expect_contains "agent.max_steps ends the turn" "$out" '"stop_reason":"max_steps"'

# A question ends the turn; the answer is the next message.
script '[{"content":"<ask_followup_question><question>Which file?</question><options>[\"a.c\",\"b.c\"]</options></ask_followup_question>"}]'
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"fix the bug"}')
expect_contains "the question event" "$out" '"question":"Which file?","options":["a.c","b.c"]'
expect_contains "  ends the turn needs_user" "$out" '"stop_reason":"needs_user"'

# Plan mode: read-only tools; a write is refused; the plan is the answer.
curl -s --unix-socket "$S" -X PATCH "http://x/careti/v1/sessions/$SID" -d '{"mode":"plan"}' > /dev/null
script '[{"content":"<write_to_file><path>x.txt</path><content>hi</content></write_to_file>"},{"content":"<plan_mode_respond><response>1. change main</response></plan_mode_respond>"}]'
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"plan it"}')
expect_contains "plan mode refuses an edit, for the model" "$out" 'write_to_file is not available in plan mode'
expect_contains "the plan is the answer" "$out" '"result":"1. change main","plan":true'
check "nothing was written in plan mode" test ! -e "$W/x.txt"
log=$(emu "$OLL_PORT" /_emu/log)
sys=$(echo "$log" | json 'let l=JSON.parse(require("fs").readFileSync(0));const c=l.filter(e=>e.path=="/api/chat");console.log(c.at(-1).body.messages[0].content.includes("plan mode"))')
expect_eq "plan mode has its prompt" "$sys" "true"

check "daemon stops cleanly" stop_daemon "$DPID"
finish
