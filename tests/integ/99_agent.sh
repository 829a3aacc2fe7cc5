#!/usr/bin/env bash
# caretictl agent against the real daemon, the model scripted in the
# emulator (text-form tool calls): a task from read to completion with
# --yes, the approval prompt on a terminal, --approve and no terminal,
# every exit code, --json, Ctrl-C stopping a running command, the REPL,
# --session, and sessions diff / undo on the files the agent changed.
. "$(dirname "$0")/lib.sh"
PTY="$ROOT/$BUILD/tools/ptyrun"

check "emulator and daemon start" start_agent_daemon
C=("$CARETICTL" --socket "$S")
mkdir -p "$T/ws"
WS=$(cd "$T/ws" && pwd -P)
printf 'int x;\nint y = 1;\n' > "$WS/a.c"

# script REPLY...: the model's next answers, each a text (JSON string).
script() {
    local replies=() r
    for r in "$@"; do replies+=("{\"content\":$r}"); done
    emu "$E_PORT" /_emu/script "{\"replace\":true,\"replies\":[$(IFS=,; echo "${replies[*]}")]}" > /dev/null
}
READ='"<read_file>\n<path>a.c</path>\n</read_file>"'
EDIT='"<replace_in_file>\n<path>a.c</path>\n<diff>\n------- SEARCH\nint y = 1;\n=======\nint y = 2;\n+++++++ REPLACE\n</diff>\n</replace_in_file>"'
RUN='"<execute_command>\n<command>echo ran-$((6*7))</command>\n<requires_approval>false</requires_approval>\n</execute_command>"'
DONE='"<attempt_completion>\n<result>y is now 2.</result>\n</attempt_completion>"'
PLAN='"<plan_mode_respond>\n<response>Set y to 2 in a.c.</response>\n</plan_mode_respond>"'
# agent ARGS...: with no controlling terminal; stdout $T/out, stderr $T/err, RC.
agent() {
    setsid -w "${C[@]}" agent "$@" < /dev/null > "$T/out" 2> "$T/err"
    RC=$?
}
last_session() { "${C[@]}" sessions --json | jq -r '.sessions[0].id'; }
session() { curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$1"; }
# wait_idle ID: poll until the session's turn has ended (10 s).
wait_idle() {
    for _ in $(seq 1 200); do
        [ "$(session "$1" | jq -r '.agent.running')" = false ] && return 0
        sleep 0.05
    done
    return 1
}

# A whole task with --yes, off a terminal.
script "$READ" "$EDIT" "$RUN" "$DONE"
agent -w "$T/ws" --yes "set y to 2 and check"
expect_eq "--yes: the completed task exits 0" "$RC" 0
out=$(cat "$T/out")
expect_contains "the read is one line" "$out" $'read a.c\n'
expect_contains "the edit is one line with its counts" "$out" $'edit a.c (+1 \u22121)\n'
expect_contains "followed by its diff" "$out" $'-int y = 1;\n+int y = 2;'
expect_contains "the command is one line, then its output" "$out" $'run echo ran-$((6*7))\nran-42'
expect_contains "the completion's result" "$out" $'Done:\ny is now 2.'
expect_contains "the summary counts steps and files" "$(cat "$T/err")" "4 steps, 1 file changed,"
expect_eq "the agent edited the file" "$(cat "$WS/a.c")" $'int x;\nint y = 2;'
ID=$(last_session)
s=$(session "$ID")
expect_eq "the session is in act mode in the workspace's real path" \
    "$(echo "$s" | jq -c '[.mode, .workspace]')" "[\"act\",\"$WS\"]"
expect_eq "--yes leaves the stored approval policy alone" "$(echo "$s" | jq -c '.settings.approvals')" null

# sessions diff / undo on that change.
out=$("${C[@]}" sessions diff "$ID")
expect_contains "sessions diff shows the change" "$out" $'edit a.c (+1 \u22121)'
expect_contains "with its diff" "$out" "+int y = 2;"
out=$("${C[@]}" sessions undo "${ID:0:6}")
expect_eq "sessions undo restores the file" "$out" "restored a.c"
expect_eq "to what it was" "$(cat "$WS/a.c")" $'int x;\nint y = 1;'
"${C[@]}" sessions undo "$ID" > /dev/null 2> "$T/err"
expect_eq "nothing left to undo exits 1" "$?" 1
expect_contains "sessions diff marks it undone" "$("${C[@]}" sessions diff "$ID")" "[undone]"

# --json: NDJSON of the turn's events, parsed.
script "$READ" "$PLAN"
agent --json -w "$T/ws" --plan "look at a.c"
expect_eq "--json --plan: exit 0" "$RC" 0
check "every line of --json is an object with event and data" \
    jq -e -s 'length > 0 and all(.[]; (.event | type) == "string" and has("data"))' "$T/out" > /dev/null
expect_eq "its events, in order" "$(jq -r '.event' "$T/out" | grep -vE '^(delta|thinking|usage)$' | tr '\n' ' ')" \
    "message step tool_call tool_result step tool_call completion tool_result done "
expect_eq "done says completed" "$(jq -r 'select(.event == "done") | .data.stop_reason' "$T/out")" completed
expect_eq "the completion is the plan" "$(jq -c 'select(.event == "completion") | .data | [.plan, .result]' "$T/out")" \
    '[true,"Set y to 2 in a.c."]'
expect_eq "--plan made a plan session" "$(session "$(last_session)" | jq -r '.mode')" plan

# No terminal: an approval waits, exit 4, the turn is stopped.
script "$READ" "$EDIT" "$DONE"
agent -w "$T/ws" "set y to 2"
expect_eq "an edit to approve with no terminal exits 4" "$RC" 4
expect_contains "saying what waits" "$(cat "$T/err")" "waiting for approval of edit to a.c"
ID4=$(last_session)
check "the turn is stopped, not left waiting" wait_idle "$ID4"
expect_eq "nothing was edited" "$(cat "$WS/a.c")" $'int x;\nint y = 1;'

# --approve edit: the edit goes through, the command still waits.
script "$EDIT" "$RUN" "$DONE"
agent --json -w "$T/ws" --approve read,edit "set y and run"
expect_eq "--approve read,edit with a command to approve exits 4" "$RC" 4
expect_eq "the edit was allowed once" \
    "$(jq -r 'select(.event == "approval_decision") | .data.decision' "$T/out" | head -n1)" allow_once
expect_eq "the last event printed is the command's approval" \
    "$(tail -n1 "$T/out" | jq -c '[.event, .data.category, .data.command]')" \
    '["approval","command","echo ran-$((6*7))"]'
expect_eq "the edit was made" "$(cat "$WS/a.c")" $'int x;\nint y = 2;'
wait_idle "$(last_session)"
"${C[@]}" sessions undo "$(last_session)" > /dev/null

# On a terminal: the prompt, then feedback the model gets.
emu "$E_PORT" /_emu/script '{"replace":true,"replies":[{"content":'"$EDIT"'},
    {"content":'"$DONE"',"expect":{"contains":"use a constant"}}]}' > /dev/null
out=$(printf 'f use a constant\n' | "$PTY" 60 "[f]eedback " -- "${C[@]}" agent -w "$T/ws" "set y")
expect_eq "on a terminal, with feedback, the task completes (exit 0)" "$?" 0
expect_contains "the approval is asked in the issue's words" "$out" \
    "Allow edit to a.c? [y]es / [n]o / [a]lways / [f]eedback"
expect_contains "after showing the diff, coloured" "$out" $'\033[32m+int y = 2;'
expect_eq "a rejected edit is not made" "$(cat "$WS/a.c")" $'int x;\nint y = 1;'
script "$EDIT" "$DONE"
out=$(printf 'a\n' | "$PTY" 60 "[f]eedback " -- "${C[@]}" agent -w "$T/ws" "set y")
expect_eq "a (always) completes the task" "$?" 0
expect_eq "and sets the session's edit policy to auto" \
    "$(session "$(last_session)" | jq -r '.settings.approvals.edit')" auto
"${C[@]}" sessions undo "$(last_session)" > /dev/null

# Every other exit code.
script '"<ask_followup_question>\n<question>Which file?</question>\n<options>[\"a.c\",\"b.c\"]</options>\n</ask_followup_question>"'
agent -w "$T/ws" "fix the file"
expect_eq "a question exits 4" "$RC" 4
expect_contains "printing it with its options" "$(cat "$T/out")" $'? Which file?\n  1. a.c\n  2. b.c'
emu "$E_PORT" /_emu/fault '{"status":500,"error":"model exploded","count":1}' > /dev/null
script
agent -w "$T/ws" "anything"
expect_eq "a failed turn exits 1" "$RC" 1
emu "$E_PORT" /_emu/reset > /dev/null
# Six different calls that succeed (the daemon stops a model that repeats
# one call, or whose calls keep failing).
reads=()
for n in "1 1" "1 2" "2 2"; do
    set -- $n
    reads+=("\"<read_file>\\n<path>a.c</path>\\n<start_line>$1</start_line>\\n<end_line>$2</end_line>\\n</read_file>\"")
done
script "${reads[@]}" '"<list_files>\n<path>.</path>\n</list_files>"' \
    '"<search_files>\n<path>.</path>\n<regex>int</regex>\n</search_files>"' \
    '"<list_files>\n<path>.</path>\n<recursive>true</recursive>\n</list_files>"'
agent -w "$T/ws" --yes "read forever"
expect_eq "a turn stopped at agent.max_steps exits 1" "$RC" 1
expect_contains "saying so" "$(cat "$T/err")" "agent.max_steps"
agent -w "$T/ws" --approve everything "x"
expect_eq "a bad --approve exits 2" "$RC" 2
setsid -w "$CARETICTL" --socket "$T/none.sock" agent -w "$T/ws" x > /dev/null 2>&1
expect_eq "no daemon exits 3" "$?" 3

# Ctrl-C while a command runs: the turn is cancelled and the command stopped.
script '"<execute_command>\n<command>echo started; sleep 30; echo finished</command>\n<requires_approval>false</requires_approval>\n</execute_command>"'
t0=$(date +%s)
out=$(printf '@started@^C\n' | "$PTY" 60 "never" -- "${C[@]}" agent -w "$T/ws" --yes "wait")
expect_eq "Ctrl-C during a command exits 130" "$?" 130
expect_contains "saying so" "$out" "(turn cancelled)"
IDC=$(last_session)
check "the daemon ended the turn" wait_idle "$IDC"
check "without waiting for the command ($(($(date +%s) - t0)) s)" test $(($(date +%s) - t0)) -lt 20
expect_eq "the turn is stored cancelled" "$(session "$IDC" | jq -r '.agent.stop_reason')" cancelled

# The REPL on a terminal; --session continues it.
script "$EDIT" "$DONE"
out=$(printf 'set y\n/diff\n/undo\n/plan\n/exit\n' | XDG_STATE_HOME="$T/hist" NO_COLOR=1 \
    "$PTY" 60 "> " -- "${C[@]}" agent -w "$T/ws" --yes)
expect_eq "the REPL exits 0 after /exit" "$?" 0
expect_contains "a line is a task" "$out" "Done:"
expect_contains "/diff shows this session's change" "$out" $'edit a.c (+1 \u22121)'
expect_contains "/undo restores it" "$out" "restored a.c"
expect_eq "so the file is back" "$(cat "$WS/a.c")" $'int x;\nint y = 1;'
IDR=$(last_session)
expect_eq "/plan switched the session's mode" "$(session "$IDR" | jq -r '.mode')" plan
check "the REPL keeps a history file" test -s "$T/hist/careti/agent_history"
script "$PLAN"
agent --session "${IDR:0:6}" --yes "and now?"
expect_eq "--session continues that session (exit 0)" "$RC" 0
expect_eq "in its mode, with the new messages in it" \
    "$(session "$IDR" | jq -r '[.mode, (.messages | map(select(.role == "user" and .agent.correction != true)) | length)] | @csv')" '"plan",2'

# A tool that fails: its line, then why.  Last, as a daemon that dies
# here would fail the checks after it.
script '"<read_file>\n<path>missing.c</path>\n</read_file>"' "$DONE"
agent -w "$T/ws" --yes "read missing.c"
expect_eq "a task with a failed read still completes (exit 0)" "$RC" 0
expect_contains "the failed call is followed by why" "$(cat "$T/out")" $'read missing.c\n  failed: '
check "the daemon is still running" kill -0 "$DPID"

finish
