#!/usr/bin/env bash
# caretictl agent as a newcomer meets it, against the real daemon and the
# scripted model: what it says when the daemon refuses a REPL command or a
# --session id, how a rejected call and a text-only step read, what it
# prints after a turn that failed before any step, and a model that does
# not exist; the typo of a command.  Each check was a surprise found by
# trying the command.
. "$(dirname "$0")/lib.sh"
PTY="$ROOT/$BUILD/tools/ptyrun"

check "emulator and daemon start" start_agent_daemon
C=("$CARETICTL" --socket "$S")
mkdir -p "$T/ws"
printf 'int x;\nint y = 1;\n' > "$T/ws/a.c"

# script REPLY...: the model's next answers, each a text (JSON string).
script() {
    local replies=() r
    for r in "$@"; do replies+=("{\"content\":$r}"); done
    emu "$E_PORT" /_emu/script "{\"replace\":true,\"replies\":[$(IFS=,; echo "${replies[*]}")]}" > /dev/null
}
EDIT='"<replace_in_file>\n<path>a.c</path>\n<diff>\n------- SEARCH\nint y = 1;\n=======\nint y = 2;\n+++++++ REPLACE\n</diff>\n</replace_in_file>"'
DONE='"<attempt_completion>\n<result>y is now 2.</result>\n</attempt_completion>"'
agent() {
    setsid -w "${C[@]}" agent "$@" < /dev/null > "$T/out" 2> "$T/err"
    RC=$?
}

# The daemon's refusals are printed with its message, not "(no error
# message)": an unknown --session, and a bad /approve value.
agent --session zzzz "x"
expect_eq "an unknown --session exits 1" "$RC" 1
expect_contains "with the daemon's message" "$(cat "$T/err")" 'no session "zzzz"'
expect_not_contains "not a placeholder" "$(cat "$T/err")" "(no error message)"
out=$(printf '/approve edit sometimes\n/exit\n' | NO_COLOR=1 XDG_STATE_HOME="$T/hist" \
    "$PTY" 60 "> " -- "${C[@]}" agent -w "$T/ws")
expect_contains "/approve with a bad value prints the daemon's reason" "$out" \
    "each auto, ask or deny"


# A rejected call reads "rejected" once, not again as "failed: rejected".
emu "$E_PORT" /_emu/script '{"replace":true,"replies":[{"content":'"$EDIT"'},
    {"content":'"$DONE"',"expect":{"contains":"use a constant"}}]}' > /dev/null
out=$(printf 'f use a constant\n' | NO_COLOR=1 "$PTY" 60 "[f]eedback " -- "${C[@]}" agent -w "$T/ws" "set y")
expect_eq "a task with a rejected edit completes (exit 0)" "$?" 0
expect_contains "the refusal is said" "$out" "  rejected"
expect_not_contains "once" "$out" "failed: rejected"

# The text of each step starts its own line.
script '"Change return 1 to return 0."' '"I cannot edit it."' '"Really."'
agent -w "$T/ws" "fix it"
expect_eq "a model that never calls a tool ends needing the user (exit 4)" "$RC" 4
expect_contains "its texts one a line" "$(cat "$T/out")" $'return 0.\nI cannot edit it.\nReally.'
ID=$("${C[@]}" sessions --json | jq -r '.sessions[0].id')
expect_contains "and says how to answer" "$(cat "$T/err")" "caretictl agent --session $ID"
script '"<ask_followup_question>\n<question>Which file?</question>\n</ask_followup_question>"'
agent -w "$T/ws" "fix the file"
expect_eq "a question exits 4" "$RC" 4
ID=$("${C[@]}" sessions --json | jq -r '.sessions[0].id')
expect_contains "saying how to answer it" "$(cat "$T/err")" "caretictl agent --session $ID"

# A turn that fails before the model answers: the error, and no "1 step,
# 0 tokens, 0.0 tokens/s" summary after it.
emu "$E_PORT" /_emu/fault '{"status":500,"error":"model exploded","count":1}' > /dev/null
script
agent -w "$T/ws" "anything"
expect_eq "a failed turn exits 1" "$RC" 1
expect_contains "saying why" "$(cat "$T/err")" "model exploded"
expect_not_contains "with no empty summary" "$(cat "$T/err")" "0 tokens"
emu "$E_PORT" /_emu/reset > /dev/null

# A model no server has is refused before a session is made or changed.
count() { "${C[@]}" sessions --json | jq '.sessions | length'; }
n=$(count)
agent -w "$T/ws" -m nosuch "x"
expect_eq "agent -m with a model no server has exits 1" "$RC" 1
expect_contains "with the daemon's refusal" "$(cat "$T/err")" "model 'nosuch' not found"
expect_eq "and no session is made for it" "$(count)" "$n"
ID=$("${C[@]}" sessions --json | jq -r '.sessions[0].id')
agent --session "$ID" -m nosuch "x"
expect_eq "--session with -m nosuch exits 1" "$RC" 1
expect_eq "leaving the session's model as it was" \
    "$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$ID" | jq -r '.model')" null
out=$(printf '/model nosuch\n/model\n/exit\n' | NO_COLOR=1 XDG_STATE_HOME="$T/hist" \
    "$PTY" 60 "> " -- "${C[@]}" agent -w "$T/ws")
expect_contains "/model with a model no server has is refused at once" "$out" \
    "model 'nosuch' not found"
expect_contains "and the model stays the default" "$out" "model: (the daemon's default)"
expect_not_contains "not nosuch" "$out" "model: nosuch"

# tokens/s counts the model's time, not a command's: a 2 s command and a
# few generated tokens must not read as a slow model (about 3 tokens/s).
script '"<execute_command>\n<command>sleep 2</command>\n<requires_approval>false</requires_approval>\n</execute_command>"' "$DONE"
agent -w "$T/ws" --yes "wait"
expect_eq "a task with a 2 s command completes" "$RC" 0
rate=$(sed -n 's/.*, \([0-9.]*\) tokens\/s$/\1/p' "$T/err")
check "tokens/s leaves the command's 2 s out ($rate)" awk -v r="$rate" 'BEGIN { exit !(r > 20) }'

# caretictl acp: a command that fails shows the editor how it failed,
# not only its output.
script '"<execute_command>\n<command>echo some-output; exit 3</command>\n<requires_approval>false</requires_approval>\n</execute_command>"' "$DONE"
coproc ACP { "${C[@]}" acp 2> "$T/acp.err"; }
DAEMON_PIDS+=("$ACP_PID")
# acp_until ID: read the bridge's lines into $T/acp.out until the answer to ID.
acp_until() {
    local line
    while IFS= read -r -t 20 line <&"${ACP[0]}"; do
        echo "$line" >> "$T/acp.out"
        [ "$(jq -r 'select(has("method") | not) | .id' <<< "$line")" = "$1" ] && return 0
    done
    return 1
}
echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}' >&"${ACP[1]}"
check "acp answers initialize" acp_until 1
echo '{"jsonrpc":"2.0","id":2,"method":"session/new","params":{"cwd":"'"$T/ws"'","mcpServers":[]}}' >&"${ACP[1]}"
check "acp makes a session" acp_until 2
SID=$(jq -r 'select(.id == 2) | .result.sessionId' "$T/acp.out")
curl -s --unix-socket "$S" -X PATCH "http://x/careti/v1/sessions/$SID" \
    -d '{"settings":{"approvals":{"command":"auto"}}}' > /dev/null
echo '{"jsonrpc":"2.0","id":3,"method":"session/prompt","params":{"sessionId":"'"$SID"'","prompt":[{"type":"text","text":"run it"}]}}' >&"${ACP[1]}"
check "acp ends the prompt" acp_until 3
failed=$(jq -c 'select(.params.update.status == "failed") | [.params.update.content[].content.text | .[0:6]]' "$T/acp.out")
expect_eq "the failed command's update has its output, then how it failed" "$failed" '["some-o","exit 3"]'
exec {ACP[1]}>&-

# Two swapped letters are the commonest typo: suggest the command meant.
for typo in agnet:agent stauts:status chta:chat; do
    err=$("$CARETICTL" --socket "$S" "${typo%%:*}" 2>&1)
    expect_eq "\"${typo%%:*}\" exits 2" "$?" 2
    expect_contains "and suggests ${typo##*:}" "$err" "did you mean \"${typo##*:}\"?"
done

finish
