#!/usr/bin/env bash
# caretictl agent as a newcomer meets it, against the real daemon and the
# scripted model: what it says when the daemon refuses a REPL command or a
# --session id, how a rejected call and a text-only step read, what it
# prints after a turn that failed before any step, and a model that does
# not exist.  Each check was a surprise found by trying the command.
. "$(dirname "$0")/lib.sh"
PTY="$ROOT/$BUILD/tools/ptyrun"

check "emulator starts" start_emu ollama E
write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" \
    "providers:" "  - {name: emu, type: ollama, base_url: \"http://127.0.0.1:$E_PORT\"}" \
    "models:" "  coder: {provider: emu, model: \"qwen3-coder:30b\", tools: text}" \
    "defaults:" "  model: coder" \
    "agent:" "  max_steps: 5" "  sandbox: \"off\"" "  approval_timeout_s: 60"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
check "the session store opens" wait_store_open "$S"
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

finish
