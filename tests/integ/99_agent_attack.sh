#!/usr/bin/env bash
# The agent under attack: a hostile model (a FIFO to read, arguments of
# the wrong JSON type, call ids that repeat or cannot go in a URL, a
# command that prints megabytes or NUL bytes) and a clumsy client (a
# PATCH that would leave an agent session without a usable workspace).
# Each case is a defect found once; the turn must end, and say why.
. "$(dirname "$0")/lib.sh"

start_emu ollama OLL || exit 1
W="$T/ws"
mkdir -p "$W"
printf 'hello\n' > "$W/a.txt"
write_config "$T/cfg.yaml" \
    "daemon:" "  state_dir: $T/state" \
    "providers:" "  - name: ollama" "    type: ollama" "    base_url: http://127.0.0.1:$OLL_PORT" \
    "models:" "  coder:" "    provider: ollama" "    model: qwen3-coder:30b" "    tools: text" \
    "  native:" "    provider: ollama" "    model: qwen3-coder:30b" "    tools: native" \
    "defaults:" "  model: coder" \
    "agent:" "  command_timeout_s: 20" "  approval_timeout_s: 20" \
    "  approvals:" "    read: auto" "    edit: auto" "    command: auto"
check "daemon starts" start_daemon "$T/d" "$T/cfg.yaml"
S="$T/d/caretid.sock"
wait_store_open "$S"
new_session() { api /careti/v1/sessions "$1" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'; }
script() { emu "$OLL_PORT" /_emu/script "{\"replace\":true,\"replies\":$1}" > /dev/null; }
# wait_for FILE TEXT [N]: until FILE holds TEXT N times (10 s at most).
wait_for() {
    for _ in $(seq 1 200); do
        [ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ] && return 0
        sleep 0.05
    done
    return 1
}
patch() { curl -s --unix-socket "$S" -X PATCH -w '\n%{http_code}' "http://x/careti/v1/sessions/$1" -d "$2"; }
DONE='{"content":"<attempt_completion><result>done</result></attempt_completion>"}'
SID=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W\"}")
NSID=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W\",\"model\":\"native\"}")

# A FIFO opened for reading waits for a writer: on the thread pool that
# hung the turn for good (no cancel, no shutdown).
mkfifo "$W/pipe"
script "[{\"content\":\"<read_file><path>pipe</path></read_file>\"},$DONE]"
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"read the pipe"}')
expect_contains "read_file of a FIFO is refused" "$out" '"summary":"pipe is not a regular file"'
expect_contains "  and the turn goes on to its end" "$out" '"stop_reason":"completed"'
script "[{\"content\":\"<write_to_file><path>pipe</path><content>x</content></write_to_file>\"},$DONE]"
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"write the pipe"}')
expect_contains "write_to_file over a FIFO is refused" "$out" '"summary":"pipe is not a regular file"'
# A FIFO named .gitignore is read by every listing, the first turn's
# environment included.
W2="$T/ws2"
mkdir -p "$W2"
mkfifo "$W2/.gitignore"
SID2=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W2\"}")
script "[{\"content\":\"<list_files><path>.</path></list_files>\"},$DONE]"
out=$(api "/careti/v1/sessions/$SID2/messages" '{"content":"list"}')
expect_contains "a FIFO .gitignore does not hang a listing" "$out" '"stop_reason":"completed"'

# Arguments of the wrong JSON type: a number as a file's content was
# written as an empty file.
script "[{\"tool_calls\":[{\"name\":\"write_to_file\",\"arguments\":{\"path\":\"n.txt\",\"content\":42}}]},$DONE]"
out=$(api "/careti/v1/sessions/$NSID/messages" '{"content":"write a number"}')
expect_eq "a number as content is written as its text" "$(cat "$W/n.txt" 2>/dev/null)" "42"
script "[{\"tool_calls\":[{\"name\":\"execute_command\",\"arguments\":{\"command\":123456789}}]},$DONE]"
out=$(api "/careti/v1/sessions/$NSID/messages" '{"content":"run a number"}')
expect_contains "a number as a command runs as its whole text" "$out" '123456789: not found'

# Call ids: Ollama's native calls may come without one, and each step's
# was then "call_0", so a late second answer to one approval approved
# the next step's call; an id too long or not URL-safe could not be
# answered at all.
ASID=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W\",\"model\":\"native\",\"settings\":{\"approvals\":{\"edit\":\"ask\"}}}")
LONG=$(printf 'x%.0s' $(seq 1 200))
wr() { echo "{\"tool_calls\":[{\"name\":\"write_to_file\",\"id\":\"$1\",\"arguments\":{\"path\":\"$2\",\"content\":\"x\"}}]}"; }
script "[$(wr "" c1.txt),$(wr "" c2.txt),$(wr "$LONG" c3.txt),$(wr "a/b?c" c4.txt),$DONE]"
api "/careti/v1/sessions/$ASID/messages" '{"content":"four files"}' > "$T/ids" &
C=$!
calls() { sed -n 's/^data: {"call":"\([^"]*\)","tool".*"category".*/\1/p' "$T/ids"; }
answer() { curl -s --unix-socket "$S" -o /dev/null -w '%{http_code}' "http://x/careti/v1/sessions/$ASID/approvals/$1" -d '{"decision":"allow_once"}'; }
check "the first edit waits" wait_for "$T/ids" "^event: approval$"
first=$(calls | sed -n 1p)
answer "$first" > /dev/null
check "the second edit waits" wait_for "$T/ids" "^event: approval$" 2
second=$(calls | sed -n 2p)
check "  with a call id of its own" test -n "$second" -a "$second" != "$first"
expect_eq "a late second answer to the first call is 404" "$(answer "$first")" "404"
check "  and the second edit still waits" test ! -e "$W/c2.txt"
answer "$second" > /dev/null
check "an edit whose model's id is 200 bytes waits" wait_for "$T/ids" "^event: approval$" 3
expect_eq "  and its approval can be answered" "$(answer "$(calls | sed -n 3p)")" "200"
check "an edit whose model's id has / and ? waits" wait_for "$T/ids" "^event: approval$" 4
expect_eq "  and its approval can be answered" "$(answer "$(calls | sed -n 4p)")" "200"
wait "$C"
expect_contains "the four edits are written" "$(ls "$W")" "c1.txt
c2.txt
c3.txt
c4.txt"

tool_out() {
    curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID" | node -e \
        'const s=JSON.parse(require("fs").readFileSync(0));console.log(s.messages.filter(m=>m.role=="tool"&&m.agent.tool=="execute_command").at(-1).content)'
}

# A command that prints 20 MB at full speed (NUL bytes, as a binary
# file's cat, which JSON writes six times as long): its output streamed whole
# outran the client, which the daemon then dropped as a slow reader, so
# the client never saw how its turn ended.
script "[{\"content\":\"<execute_command><command>head -c 20000000 /dev/zero; echo; echo the end</command></execute_command>\"},$DONE]"
curl -s -N --max-time 60 --unix-socket "$S" "http://x/careti/v1/sessions/$SID/messages" -d '{"content":"flood"}' > "$T/flood"
expect_contains "a client reading a 20 MB command's turn sees its end" "$(tail -n 3 "$T/flood")" '"stop_reason":"completed"'
expect_not_contains "  and was not dropped" "$(cat "$T/d/log")" "stopped reading"
expect_contains "  and the model got the output's last line" "$(tool_out)" "the end"

# NUL bytes in a command's output cut what the model was given there.
script "[{\"content\":\"<execute_command><command>head -c 3 /dev/zero; echo after the nul</command></execute_command>\"},$DONE]"
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"nul"}')
expect_contains "a NUL in a command's output does not cut what the model reads" "$(tool_out)" "after the nul"

# PATCH checked the workspace only when the body also named an agent
# mode: an act session could be given a missing directory, none at all,
# or a chat session be made act without one (each turn then failed).
PS=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W\"}")
out=$(patch "$PS" "{\"workspace\":\"$T/nowhere\"}")
expect_contains "PATCH of an act session's workspace to a missing path is 400" "$out" "give an existing directory"
out=$(patch "$PS" '{"workspace":null}')
expect_contains "PATCH of an act session's workspace to null is 400" "$out" "needs a workspace"
ln -s "$W" "$T/wlink"
out=$(patch "$PS" "{\"workspace\":\"$T/wlink\"}")
expect_contains "PATCH of an act session's workspace stores its real path" "$out" "\"workspace\":\"$W\""
CS=$(new_session '{}')
out=$(patch "$CS" '{"mode":"plan"}')
expect_contains "PATCH of a chat session to plan without a workspace is 400" "$out" "needs a workspace"
out=$(patch "$CS" "{\"workspace\":\"$T/nowhere\"}")
expect_contains "  while a chat session keeps any workspace for its clients" "$out" "200"
out=$(patch "$CS" '{"mode":"act"}')
expect_contains "  and cannot become act with it" "$out" "give an existing directory"
out=$(patch "$PS" '{"mode":"chat","workspace":null}')
expect_contains "an act session can become chat without one" "$out" "200"

# A call over the parser's 16 MiB: its text was kept as the step's
# answer, so the next request could not fit any window and the turn
# failed on that instead of telling the model.
node -e 'const c="é".repeat(9*1024*1024);console.log(JSON.stringify({replace:true,replies:[{content:"<write_to_file><path>huge.txt</path><content>"+c+"</content></write_to_file>",chunk_bytes:65536},{content:"<attempt_completion><result>done</result></attempt_completion>",expect:{contains:"larger than 16 MiB"}}]}))' > "$T/huge.json"
emu "$OLL_PORT" /_emu/script "@$T/huge.json" > /dev/null
out=$(curl -s -N --max-time 60 --unix-socket "$S" "http://x/careti/v1/sessions/$SID/messages" -d '{"content":"huge"}')
expect_contains "a call over 16 MiB is a mistake the model is told of" "$out" '"stop_reason":"completed"'
check "  and nothing is written" test ! -e "$W/huge.txt"

# A file whose name is not UTF-8 at the top of the workspace emptied the
# whole environment block of the first message (workspace, system,
# files), since JSON cannot carry the name.
W4="$T/ws4"
mkdir -p "$W4"
printf 'caf\xe9\n' > "$W4/latin.txt"
touch "$W4/$(printf 'n\xe4me.txt')"
S4=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W4\"}")
script "[{\"content\":\"<read_file><path>latin.txt</path></read_file>\"},$DONE]"
out=$(api "/careti/v1/sessions/$S4/messages" '{"content":"latin"}')
got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$S4")
expect_contains "a non-UTF-8 file name keeps the environment" "$got" "Workspace: $W4"
expect_contains "  with the name's other bytes" "$got" 'n?me.txt'
expect_contains "a Latin-1 file reads as valid JSON" "$got" '"content":"caf?\n"'

finish
