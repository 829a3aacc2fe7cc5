#!/usr/bin/env bash
# The agent's safety: approvals (allow once, always, reject with
# feedback, unanswered), cancel during an approval and during a command,
# a command's whole process group gone on timeout, Landlock keeping
# writes inside, a refused symlink escape, undo refused over a newer
# edit, and a daemon killed mid-command.
. "$(dirname "$0")/lib.sh"

start_emu ollama OLL || exit 1
W="$T/ws"
mkdir -p "$W"
printf 'hello\n' > "$W/a.txt"
ln -s /etc "$W/etc_link"
mkconfig() {
    write_config "$T/cfg.yaml" \
        "daemon:" "  state_dir: $T/state" \
        "providers:" "  - name: ollama" "    type: ollama" "    base_url: http://127.0.0.1:$OLL_PORT" \
        "models:" "  coder:" "    provider: ollama" "    model: qwen3-coder:30b" "    tools: text" \
        "defaults:" "  model: coder" \
        "agent:" "  command_timeout_s: 2" "  approval_timeout_s: $1"
}
mkconfig 3
check "daemon starts" start_daemon "$T/d" "$T/cfg.yaml"
S="$T/d/caretid.sock"
wait_store_open "$S"
new_session() { api /careti/v1/sessions "$1" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'; }
script() { emu "$OLL_PORT" /_emu/script "{\"replace\":true,\"replies\":$1}" > /dev/null; }
# wait_for FILE TEXT: until FILE holds TEXT (10 s at most).
wait_for() { for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
call_of() { sed -n 's/^data: {"call":"\([^"]*\)".*/\1/p' "$1" | head -n1; }
answer() { curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID/approvals/$1" -d "$2"; }

SID=$(new_session "{\"mode\":\"act\",\"workspace\":\"$W\"}")
DONE='{"content":"<attempt_completion><result>done</result></attempt_completion>"}'

# Edits ask by default: the approval carries the diff; allow once.
script "[{\"content\":\"<write_to_file><path>a.txt</path><content>\\nbye\\n</content></write_to_file>\"},$DONE]"
api "/careti/v1/sessions/$SID/messages" '{"content":"change a.txt"}' > "$T/t1" &
C1=$!
check "an edit waits for its approval" wait_for "$T/t1" "event: approval"
expect_contains "  with the edit's diff" "$(cat "$T/t1")" '"diff":"--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-hello\n+bye\n"'
check "  and nothing is written meanwhile" grep -q hello "$W/a.txt"
got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID")
expect_contains "the session shows the pending approval" "$got" '"pending_approval":{"call"'
out=$(answer nosuch '{"decision":"allow_once"}')
expect_contains "an unknown call is 404" "$out" "waits for no approval"
out=$(answer "$(call_of "$T/t1")" '{"decision":"maybe"}')
expect_contains "an unknown decision is 400" "$out" "allow_once, allow_always or reject"
out=$(answer "$(call_of "$T/t1")" '{"decision":"allow_once"}')
expect_contains "allow_once answers 200" "$out" '"decision":"allow_once"'
wait "$C1"
check "the file is written" grep -q bye "$W/a.txt"
expect_contains "the decision is an event" "$(cat "$T/t1")" '"decision":"allow_once","call"'
got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID")
expect_contains "the decision is stored with the result" "$got" '"approval":{"decision":"allow_once"}'

# Reject with feedback: the model reads it, nothing is written.
script "[{\"content\":\"<write_to_file><path>a.txt</path><content>\\nno\\n</content></write_to_file>\"},{\"content\":\"<attempt_completion><result>ok</result></attempt_completion>\",\"expect\":{\"contains\":\"Their feedback: keep bye\"}}]"
api "/careti/v1/sessions/$SID/messages" '{"content":"again"}' > "$T/t2" &
C2=$!
check "a second edit waits" wait_for "$T/t2" "event: approval"
answer "$(call_of "$T/t2")" '{"decision":"reject","feedback":"keep bye"}' > /dev/null
wait "$C2"
check "rejected: the file is untouched" grep -q bye "$W/a.txt"
expect_contains "the model got the feedback, and completed" "$(cat "$T/t2")" '"stop_reason":"completed"'

# allow_always is stored with the session: the next edit does not ask.
script "[{\"content\":\"<write_to_file><path>b.txt</path><content>\\none\\n</content></write_to_file>\"},{\"content\":\"<write_to_file><path>c.txt</path><content>\\ntwo\\n</content></write_to_file>\"},$DONE]"
api "/careti/v1/sessions/$SID/messages" '{"content":"two files"}' > "$T/t3" &
C3=$!
check "a third edit waits" wait_for "$T/t3" "event: approval"
answer "$(call_of "$T/t3")" '{"decision":"allow_always"}' > /dev/null
wait "$C3"
check "after allow_always both files are written" test -f "$W/b.txt" -a -f "$W/c.txt"
expect_eq "  with one approval asked" "$(grep -c '^event: approval$' "$T/t3")" "1"
got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID")
expect_contains "  and the session's policy says so" "$got" '"approvals":{"edit":"auto"}'
expect_contains "  and the edit the policy allowed says so" "$got" '"summary":"created c.txt (+1 -0)","approval":{"decision":"auto"}'

# An approval nobody answers (3 s here) ends the turn needs_user.
script '[{"content":"<execute_command><command>touch ran</command></execute_command>"}]'
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"run it"}')
expect_contains "an unanswered approval times out" "$out" '"decision":"timeout"'
expect_contains "  and the turn needs the user" "$out" '"stop_reason":"needs_user","reason":"the approval of execute_command was not answered'
check "  the command never ran" test ! -e "$W/ran"

# Cancel during an approval wait.
script '[{"content":"<execute_command><command>touch ran</command></execute_command>"}]'
api "/careti/v1/sessions/$SID/messages" '{"content":"run it"}' > "$T/t4" &
C4=$!
check "a command waits for its approval" wait_for "$T/t4" "event: approval"
curl -s --unix-socket "$S" -X POST "http://x/careti/v1/sessions/$SID/cancel" > /dev/null
wait "$C4"
expect_contains "cancel during an approval ends the turn cancelled" "$(cat "$T/t4")" '"status":"interrupted","stop_reason":"cancelled"'
expect_contains "  and withdraws the approval" "$(cat "$T/t4")" '"decision":"cancelled"'
check "  the command never ran" test ! -e "$W/ran"

curl -s --unix-socket "$S" -X PATCH "http://x/careti/v1/sessions/$SID" -d '{"settings":{"approvals":{"read":"auto","edit":"auto","command":"auto"}}}' > /dev/null
# A command the agent runs cannot change its own session's policy, nor
# answer approvals, through the daemon's socket; it may read.
cat > "$W/escalate.sh" <<SH
curl -s -o /dev/null -w '%{http_code}' --unix-socket '$S' -X PATCH 'http://x/careti/v1/sessions/$SID' -d '{"settings":{"approvals":{"command":"auto","edit":"auto","read":"auto"},"escalated":true}}' > patch.code
curl -s -o /dev/null -w '%{http_code}' --unix-socket '$S' 'http://x/careti/v1/sessions/$SID' > get.code
(sleep 0.2; curl -s -o /dev/null -w '%{http_code}' --unix-socket '$S' -X POST 'http://x/careti/v1/sessions' -d '{}' > create.code) &
wait
SH
script '[{"content":"<execute_command><command>sh escalate.sh</command></execute_command>"},'"$DONE"']'
api "/careti/v1/sessions/$SID/messages" '{"content":"escalate"}' > /dev/null
expect_eq "a command of the agent cannot PATCH its session" "$(cat "$W/patch.code")" "403"
expect_eq "  nor create one, from a child process" "$(cat "$W/create.code")" "403"
expect_eq "  but may read it" "$(cat "$W/get.code")" "200"
got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID")
expect_not_contains "  and the policy is unchanged" "$got" "escalated"

out=$(api_status /careti/v1/sessions "{\"mode\":\"act\",\"workspace\":\"$W\",\"settings\":{\"approvals\":{\"edit\":\"sometimes\"}}}")
expect_contains "a bad approval policy is 400" "$out" "each auto, ask or deny"

# A command that forks a grandchild and outlives its timeout: the whole
# group is gone.
script '[{"content":"<execute_command><command>(sleep 60; echo late > late.txt) &\necho $! > gc.pid; sleep 60</command></execute_command>"},'"$DONE"']'
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"hang"}')
expect_contains "a command past agent.command_timeout_s is stopped, and says so" "$out" '"summary":"timed out after 2 s (agent.command_timeout_s)"'
gc=$(cat "$W/gc.pid" 2>/dev/null)
check "  and its grandchild is gone" bash -c "! kill -0 $gc 2>/dev/null"

# Landlock: a command writes in the workspace, not outside it.
# landlock_create_ruleset(NULL, 0, VERSION) answers the ABI, or fails.
abi=$(python3 -c 'import ctypes; print(ctypes.CDLL(None).syscall(444, None, 0, 1))' 2>/dev/null)
if [ "${abi:-0}" -gt 0 ]; then
    # Outside both the workspace and the temporary directory (which the
    # sandbox leaves writable).
    OUT="$ROOT/build/landlock-probe.$$"
    mkdir -p "$OUT"
    script '[{"content":"<execute_command><command>echo in > inside.txt; echo out > '"$OUT"'/outside.txt</command></execute_command>"},'"$DONE"']'
    out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"write"}')
    check "Landlock: a command writes inside the workspace" test -f "$W/inside.txt"
    check "  but not outside it" test ! -e "$OUT/outside.txt"
    rm -rf "$OUT"
    expect_contains "  and says it was sandboxed" "$out" '"sandboxed":true'
else
    ok "Landlock not offered by this kernel: skipped"
fi

# A symlink out of the workspace is refused, for the model.
script '[{"content":"<read_file><path>etc_link/passwd</path></read_file>"},'"$DONE"']'
out=$(api "/careti/v1/sessions/$SID/messages" '{"content":"read"}')
expect_contains "a symlink leading out is refused" "$out" '"tool":"read_file","ok":false'
expect_not_contains "  and nothing of /etc/passwd reaches the model" "$(emu "$OLL_PORT" /_emu/log)" "root:x:0"

# Cancel during a command: its group is stopped, the turn cancelled.
script '[{"content":"<execute_command><command>echo started; sleep 31.5</command></execute_command>"}]'
api "/careti/v1/sessions/$SID/messages" '{"content":"long"}' > "$T/t5" &
C5=$!
check "a command runs" wait_for "$T/t5" "started"
curl -s --unix-socket "$S" -X POST "http://x/careti/v1/sessions/$SID/cancel" > /dev/null
wait "$C5"
expect_contains "cancel during a command stops it" "$(cat "$T/t5")" '"summary":"cancelled"'
expect_contains "  and ends the turn cancelled" "$(cat "$T/t5")" '"stop_reason":"cancelled"'
check "  no sleep is left" bash -c "! pgrep -f '^sleep 31.5$' > /dev/null"

# Undo is refused, naming the file, when the file changed since.
echo "mine" > "$W/c.txt"
out=$(api_status "/careti/v1/sessions/$SID/undo" '{}')
expect_contains "undo over a newer edit is refused, naming the file" "$out" "c.txt has changed since the agent wrote it"
check "  and the newer edit is kept" grep -q mine "$W/c.txt"

# SIGKILL mid-command, then restart: the cut turn is interrupted, and no
# process of the command is left.
script '[{"content":"<execute_command><command>echo $$ > sh.pid; sleep 40</command></execute_command>"}]'
api "/careti/v1/sessions/$SID/messages" '{"content":"die"}' > "$T/t6" &
check "a command runs before the kill" wait_for "$T/t6" "tool_call"
for _ in $(seq 1 100); do [ -s "$W/sh.pid" ] && break; sleep 0.05; done
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
sh_pid=$(cat "$W/sh.pid")
for _ in $(seq 1 100); do kill -0 "$sh_pid" 2>/dev/null || break; sleep 0.05; done
check "the command dies with the daemon" bash -c "! kill -0 $sh_pid 2>/dev/null"
check "the daemon restarts" start_daemon "$T/d" "$T/cfg.yaml"
wait_store_open "$S"
got=$(curl -s --unix-socket "$S" "http://x/careti/v1/sessions/$SID")
last_user=$(echo "$got" | node -e 'let s=JSON.parse(require("fs").readFileSync(0));console.log(s.messages.filter(m=>m.role=="user").at(-1).status)')
expect_eq "the cut turn is marked interrupted" "$last_user" "interrupted"

# The database deleted while a step streams: the write of the step's
# result fails, the step that followed is stopped, nothing it said is
# told, and the turn ends with the store's reason.
script '[{"content":"<read_file>\n<path>a.txt</path>\n</read_file>","chunk_bytes":4,"slow_ms":150},{"content":"NEVER TOLD TO ANYONE","chunk_bytes":4,"slow_ms":300}]'
api "/careti/v1/sessions/$SID/messages" '{"content":"one more"}' > "$T/t7" &
C7=$!
check "a step streams" wait_for "$T/t7" "event: step"
rm -f "$T/state/careti.db" "$T/state/careti.db-wal" "$T/state/careti.db-shm"
wait "$C7"
expect_contains "a step that cannot be written ends the turn with the store's reason" "$(cat "$T/t7")" "was deleted or replaced while caretid ran"
expect_not_contains "  and the step after it is never told" "$(cat "$T/t7")" "NEVER"

check "daemon stops cleanly" stop_daemon "$DPID"
finish
