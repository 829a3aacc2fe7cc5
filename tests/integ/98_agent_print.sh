#!/usr/bin/env bash
# caretictl agent's side of a turn, against a stand-in for the daemon's
# agent routes (tests/tools/fake_agent.mjs) that plays events the test
# chooses: what it prints, how it answers approvals (--yes, --approve, the
# terminal, no terminal), the exit code of each way a turn ends, --json,
# Ctrl-C, the REPL, and sessions diff / undo.  99_agent.sh drives the same
# command against the real daemon.
. "$(dirname "$0")/lib.sh"
PTY="$ROOT/$BUILD/tools/ptyrun"
FAKE="$ROOT/tests/tools/fake_agent.mjs"
N=0

# fake SCRIPT_JSON: start a fresh stand-in playing SCRIPT; sets FS (its socket).
fake() {
    N=$((N + 1))
    mkdir -p -m 700 "$T/f$N"
    printf '%s' "$1" > "$T/f$N/script.json"
    node "$FAKE" "$T/f$N/sock" "$T/f$N/script.json" > "$T/f$N/out" 2>&1 &
    DAEMON_PIDS+=("$!")
    FS="$T/f$N/sock"
    for _ in $(seq 1 200); do grep -qs ready "$T/f$N/out" && return 0; sleep 0.05; done
    echo "fake did not start: $(cat "$T/f$N/out")" >&2
    return 1
}
flog() { curl -s --unix-socket "$FS" http://x/_fake/log; }
# agent ARGS...: caretictl agent with no controlling terminal (setsid), so
# nothing can be asked; stdout in $T/out, stderr in $T/err, status in RC.
agent() {
    setsid -w "$CARETICTL" --socket "$FS" agent "$@" < /dev/null > "$T/out" 2> "$T/err"
    RC=$?
}

mkdir -p "$T/ws/src"
WS=$(cd "$T/ws" && pwd -P)
DIFF='--- a/src/a.c\n+++ b/src/a.c\n@@ -1,2 +1,2 @@\n int x;\n-int y = 1;\n+int y = 2;\n'
DONE='["done",{"message_id":9,"status":"complete","stop_reason":"completed","steps":3,"files_changed":1}]'
TURN='[["message",{"id":1,"role":"user","content":"fix it"}],
 ["step",{"n":1,"message_id":2}],["delta",{"content":"Let me look."}],
 ["tool_call",{"id":"c1","name":"read_file","arguments":{"path":"src/a.c"},"step":1}],
 ["tool_result",{"call":"c1","tool":"read_file","ok":true,"summary":"read 2 lines","message_id":3}],
 ["usage",{"step":1,"prompt_tokens":100,"completion_tokens":10,"estimated":false}],
 ["step",{"n":2,"message_id":4}],
 ["tool_call",{"id":"c2","name":"replace_in_file","arguments":{"path":"src/a.c","diff":"x"},"step":2}],
 ["approval",{"call":"c2","tool":"replace_in_file","category":"edit","arguments":{},"path":"src/a.c","diff":"'$DIFF'","added":1,"removed":1}],
 ["tool_result",{"call":"c2","tool":"replace_in_file","ok":true,"summary":"edited","message_id":5,"path":"src/a.c","diff":"'$DIFF'","added":1,"removed":1,"change":1}],
 ["usage",{"step":2,"prompt_tokens":150,"completion_tokens":20,"estimated":true}],
 ["step",{"n":3,"message_id":6}],
 ["tool_call",{"id":"c3","name":"execute_command","arguments":{"command":"make test"},"step":3}],
 ["approval",{"call":"c3","tool":"execute_command","category":"command","arguments":{},"command":"make test"}],
 ["tool_output",{"call":"c3","content":"all tests passed\n"}],
 ["tool_result",{"call":"c3","tool":"execute_command","ok":true,"summary":"exit 0","message_id":7,"exit_code":0}],
 ["usage",{"step":3,"prompt_tokens":200,"completion_tokens":20,"estimated":false}],
 ["completion",{"call":"c4","result":"y is now 2.","plan":false}],'"$DONE"']'

# --yes, off a terminal: every line the issue names, no colour.
fake '{"turns":['"$TURN"']}'
agent -w "$T/ws" --yes fix it
expect_eq "--yes: a completed turn exits 0" "$RC" 0
out=$(cat "$T/out")
expect_contains "the model's text is streamed" "$out" "Let me look."
expect_contains "a read is one line" "$out" $'\nread src/a.c\n'
expect_contains "an edit is one line with its counts" "$out" $'edit src/a.c (+1 \u22121)\n'
expect_contains "followed by its unified diff" "$out" $'@@ -1,2 +1,2 @@\n int x;\n-int y = 1;\n+int y = 2;\n'
expect_contains "a command is one line, its output as it runs" "$out" $'run make test\nall tests passed\n'
expect_contains "the completion's result" "$out" $'Done:\ny is now 2.'
expect_not_contains "no colour off a terminal" "$out" $'\033'
expect_contains "a one-line summary" "$(cat "$T/err")" "3 steps, 1 file changed, 500 tokens,"
log=$(flog)
expect_eq "the session is made in act mode with the workspace's real path" \
    "$(echo "$log" | jq -c '.[0].body')" "{\"mode\":\"act\",\"workspace\":\"$WS\"}"
expect_eq "--yes answers allow_once to each approval (and changes no policy)" \
    "$(echo "$log" | jq -c '[.[] | select(.url | test("approvals")) | [.url, .body.decision]]')" \
    '[["/careti/v1/sessions/f00dcafe/approvals/c2","allow_once"],["/careti/v1/sessions/f00dcafe/approvals/c3","allow_once"]]'
expect_eq "and never PATCHes the session" "$(echo "$log" | jq '[.[] | select(.method == "PATCH")] | length')" 0

# --json: the events as NDJSON, one object a line.
fake '{"turns":['"$TURN"']}'
agent --json -w "$T/ws" --plan -m coder --yes fix it
expect_eq "--json exits 0" "$RC" 0
expect_eq "--json prints every event, approval_decision included, as {event, data}" \
    "$(jq -r '.event' "$T/out" | tr '\n' ' ')" \
    "message step delta tool_call tool_result usage step tool_call approval approval_decision tool_result usage step tool_call approval approval_decision tool_output tool_result usage completion done "
expect_eq "each line is one JSON object" "$(jq -c 'select(.event == "done") | .data.stop_reason' "$T/out")" '"completed"'
expect_eq "--plan and -m make a plan session with that model" \
    "$(flog | jq -c '.[0].body')" "{\"mode\":\"plan\",\"workspace\":\"$WS\",\"model\":\"coder\"}"
expect_eq "--json prints no summary" "$(cat "$T/err")" ""

# No terminal and nothing pre-approved: say what waits, stop the turn, exit 4.
fake '{"turns":['"$TURN"']}'
agent -w "$T/ws" fix it
expect_eq "an approval with no terminal exits 4" "$RC" 4
expect_contains "naming what was waiting and the way out" "$(cat "$T/err")" \
    "waiting for approval of edit to src/a.c (session f00dcafe, call c2), and no terminal to ask on; run with --yes or --approve edit"
log=$(flog)
expect_eq "nothing is answered for the user" "$(echo "$log" | jq '[.[] | select(.url | test("approvals"))] | length')" 0
expect_eq "and the turn is cancelled on the daemon" "$(echo "$log" | jq -r '.[-2].url')" "/careti/v1/sessions/f00dcafe/cancel"

# --approve read,edit: those are allowed once; the command still needs the user.
fake '{"turns":['"$TURN"']}'
agent -w "$T/ws" --approve read,edit fix it
expect_eq "--approve read,edit: the command approval exits 4" "$RC" 4
expect_eq "after allowing the edit once" \
    "$(flog | jq -c '[.[] | select(.url | test("approvals")) | .body.decision]')" '["allow_once"]'
expect_contains "the command is what waited" "$(cat "$T/err")" 'approval of command `make test`'

# Each way a turn ends has its exit code.
endwith() { # STOP_REASON [REASON]
    fake '{"turns":[[["message",{"id":1}],["question",{"call":"q","question":"Which file?","options":["a.c","b.c"]}],
        ["done",{"message_id":2,"status":"complete","stop_reason":"'"$1"'","reason":"'"${2:-}"'","steps":1,"files_changed":0}]]]}'
    agent -w "$T/ws" do it
}
endwith needs_user "the model asked a question"
expect_eq "needs_user (a question) exits 4" "$RC" 4
expect_contains "the question and its options are printed" "$(cat "$T/out")" $'? Which file?\n  1. a.c\n  2. b.c'
endwith cancelled
expect_eq "cancelled exits 130" "$RC" 130
endwith error
expect_eq "error exits 1" "$RC" 1
endwith max_steps "25 steps"
expect_eq "max_steps exits 1" "$RC" 1
expect_contains "saying why" "$(cat "$T/err")" "stopped after 1 steps (agent.max_steps): 25 steps"
fake '{"turns":[[["message",{"id":1}],["delta",{"content":"half"}]]]}'
agent -w "$T/ws" do it
expect_eq "a stream without its done event exits 1" "$RC" 1
setsid -w "$CARETICTL" --socket "$T/nowhere/sock" agent -w "$T/ws" do it > /dev/null 2>&1
expect_eq "no daemon exits 3" "$?" 3
agent --yes --approve edit do it
expect_eq "--yes with --approve is a usage error (2)" "$RC" 2
agent --approve edit,write do it
expect_eq "an unknown --approve category is a usage error (2)" "$RC" 2
agent -w "$T/nosuch" do it
expect_eq "a missing workspace exits 1" "$RC" 1
fake '{"session":{"id":"c0ffee00","mode":"chat"},"turns":[]}'
agent --session c0ff do it
expect_eq "--session of a chat session exits 1" "$RC" 1
expect_contains "pointing to caretictl chat" "$(cat "$T/err")" "caretictl chat c0ffee00"

# On a terminal: the prompt, a retry on a wrong answer, feedback, colour.
fake '{"turns":['"$TURN"']}'
out=$(printf 'maybe\nf\n@model: @use a constant\ny\n' | (cd "$T/ws" && "$PTY" 30 "[f]eedback " -- \
    "$CARETICTL" --socket "$FS" agent fix it))
expect_eq "on a terminal the turn completes (exit 0)" "$?" 0
expect_contains "the edit's approval is asked in the issue's words" "$out" \
    "Allow edit to src/a.c? [y]es / [n]o / [a]lways / [f]eedback"
expect_contains "an unknown answer asks again" "$out" $'maybe\r\nAllow edit to src/a.c?'
expect_contains "f asks for the feedback" "$out" "Feedback for the model: "
expect_contains "the diff is coloured on a terminal" "$out" $'\033[32m+int y = 2;\033[0m'
expect_contains "the tool line is bold" "$out" $'\033[1mread src/a.c\033[0m'
expect_eq "feedback rejects with its text; y allows once" \
    "$(flog | jq -c '[.[] | select(.url | test("approvals")) | .body]')" \
    '[{"decision":"reject","feedback":"use a constant"},{"decision":"allow_once"}]'
expect_eq "the workspace defaults to the current directory" "$(flog | jq -r '.[0].body.workspace')" "$WS"

fake '{"turns":['"$TURN"']}'
out=$(printf 'a\nn\n' | NO_COLOR=1 "$PTY" 30 "[f]eedback " -- "$CARETICTL" --socket "$FS" agent -w "$T/ws" fix it)
expect_not_contains "NO_COLOR: no colour on a terminal either" "$out" $'\033[32m'
expect_eq "a is allow_always, n is reject" \
    "$(flog | jq -c '[.[] | select(.url | test("approvals")) | .body.decision]')" '["allow_always","reject"]'

# Reasoning: dimmed on its own line on a terminal, left out elsewhere.
THINK='[[["message",{"id":1}],["thinking",{"content":"Hmm, a.c."}],["delta",{"content":"Answer."}],
    ["done",{"message_id":2,"status":"complete","stop_reason":"completed","steps":1,"files_changed":0}]]]'
fake '{"turns":'"$THINK"'}'
out=$("$PTY" 30 "never" -- "$CARETICTL" --socket "$FS" agent -w "$T/ws" think < /dev/null)
expect_contains "reasoning is dimmed, and the answer starts a line" "$out" $'\033[2mHmm, a.c.\033[0m\r\nAnswer.'
fake '{"turns":'"$THINK"'}'
agent -w "$T/ws" think
expect_eq "off a terminal only the answer is printed" "$(cat "$T/out")" "Answer."

# Piped standard input still works: the tasks come from the pipe, the
# approval's answer from the terminal.
fake '{"turns":['"$TURN"']}'
out=$(printf '@[f]eedback @y\n@[f]eedback @y\n' | "$PTY" 30 "never" -- bash -c \
    "echo 'fix it' | '$CARETICTL' --socket '$FS' agent -w '$T/ws'")
expect_eq "piped tasks, approvals on /dev/tty: exit 0" "$?" 0
expect_eq "the piped line was the task" "$(flog | jq -r '[.[] | select(.url | test("messages"))][0].body.content')" "fix it"

# Ctrl-C cancels the turn (exit 130); the daemon is told.
fake '{"turns":[[["message",{"id":1}],["delta",{"content":"working on it\n"}],["_hold",{}],
    ["done",{"message_id":2,"status":"interrupted","stop_reason":"cancelled","steps":1,"files_changed":0}]]]}'
out=$(printf '@working on it@^C\n' | "$PTY" 30 "never" -- "$CARETICTL" --socket "$FS" agent -w "$T/ws" go)
expect_eq "Ctrl-C during a turn exits 130" "$?" 130
expect_contains "saying the turn was cancelled" "$out" "(turn cancelled)"
expect_eq "after POST .../cancel" "$(flog | jq -r '[.[] | select(.url | test("cancel"))] | length')" 1
fake '{"turns":['"$TURN"']}'
out=$(printf '@[f]eedback @^C\n' | "$PTY" 30 "never" -- "$CARETICTL" --socket "$FS" agent -w "$T/ws" go)
expect_eq "Ctrl-C at an approval prompt exits 130" "$?" 130
expect_eq "cancelling the turn, answering nothing" \
    "$(flog | jq -c '[.[] | select(.url | test("cancel|approvals")) | .url]')" '["/careti/v1/sessions/f00dcafe/cancel"]'

# The REPL: tasks, slash commands, history; a second Ctrl-C leaves.
CHANGES='[{"id":1,"seq":5,"path":"src/a.c","existed":true,"added":1,"removed":1,"diff":"'$DIFF'","undone":false},
 {"id":2,"seq":7,"path":"src/new.c","existed":false,"added":3,"removed":0,"diff":"--- /dev/null\n+++ b/src/new.c\n","undone":true}]'
fake '{"turns":['"$TURN"',[["message",{"id":1}],["delta",{"content":"again\n"}],["_hold",{}]]],
    "changes":'"$CHANGES"',"undo":{"undone":[{"change":1,"path":"src/a.c","action":"restored"}]}}'
out=$(printf 'fix it\n/plan\n/diff\n/undo\n/undo 2\n/approve edit auto\n/approve\n/model big\n/help\nmore\n@again@^C\n^C\n' | \
    XDG_STATE_HOME="$T/hist" NO_COLOR=1 "$PTY" 30 "> " -- "$CARETICTL" --socket "$FS" agent -w "$T/ws" --yes)
expect_eq "a Ctrl-C at the prompt leaves the REPL (130)" "$?" 130
expect_contains "the REPL names its session" "$out" "session f00dcafe (act) in $WS"
expect_contains "a line is a task" "$out" "Done:"
expect_contains "/plan switches the mode" "$out" "mode: plan"
expect_contains "and the prompt says so" "$out" "plan> "
expect_contains "/diff lists the changes with their steps" "$out" $'step 5: edit src/a.c (+1 \u22121)'
expect_contains "and marks undone ones" "$out" $'step 7: new src/new.c (+3 \u22120) [undone]'
expect_contains "/undo says what it restored" "$out" "restored src/a.c"
expect_contains "/approve sets a category" "$out" "edit: auto"
expect_contains "/approve shows the policy" "$out" "command  (the config's agent.approvals)"
expect_contains "/model changes it" "$out" "model: big"
expect_contains "/help lists the commands" "$out" "/undo [N]"
expect_contains "Ctrl-C in the REPL cancels the turn first" "$out" "(turn cancelled)"
log=$(flog)
expect_eq "/undo is {} and /undo 2 goes back to the 2nd newest change not undone" \
    "$(echo "$log" | jq -c '[.[] | select(.url | test("undo")) | .body]')" '[{},{"to":5}]'
expect_eq "PATCHes: mode, the whole settings, model" \
    "$(echo "$log" | jq -c '[.[] | select(.method == "PATCH") | .body]')" \
    '[{"mode":"plan"},{"settings":{"approvals":{"edit":"auto"}}},{"model":"big"}]'
check "the REPL keeps a history file" grep -q '^/undo.*2$' "$T/hist/careti/agent_history"

# sessions diff and undo.
fake '{"session":{"id":"f00dcafe","mode":"act"},"turns":[],"changes":'"$CHANGES"',
    "undo":{"undone":[{"change":1,"path":"src/a.c","action":"restored"}]}}'
out=$("$CARETICTL" --socket "$FS" sessions diff f00d)
expect_eq "sessions diff exits 0" "$?" 0
expect_contains "sessions diff prints each change and its diff" "$out" \
    $'step 5: edit src/a.c (+1 \u22121)\n--- a/src/a.c'
out=$("$CARETICTL" --socket "$FS" sessions undo f00dcafe 5)
expect_eq "sessions undo ID STEP prints what it did" "$out" "restored src/a.c"
"$CARETICTL" --socket "$FS" sessions undo f00dcafe five 2> /dev/null
expect_eq "a STEP that is not a number is a usage error" "$?" 2
expect_eq "sessions undo ID 5 sends {\"to\": 5}" \
    "$(flog | jq -c '[.[] | select(.url | test("undo")) | .body]')" '[{"to":5}]'

finish
