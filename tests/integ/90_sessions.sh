#!/usr/bin/env bash
# Agent sessions: durable in SQLite, shared live between clients, within
# the context window, and intact after a crash.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
write_config "$T/c.yaml" \
    "daemon:" "  state_dir: $T/state" \
    "providers:" "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "models:" "  coder: {provider: ollama, model: \"qwen3-coder:30b\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
sess() { curl -s -N --max-time 20 --unix-socket "$S" "$@"; }

out=$(sess -w '\n%{http_code}' http://x/careti/v1/sessions -d '{"model":"coder","workspace":"/src/app"}')
expect_contains "POST /sessions creates (201)" "$out" $'\n201'
ID=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
check "the session has a short id" test "${#ID}" -eq 8
out=$(sess http://x/careti/v1/sessions/"${ID:0:3}"/messages -d '{"content":"explain main.c please"}')
expect_contains "a turn streams delta events" "$out" $'event: delta\ndata: {"content":"Hi! "}'
expect_contains "then usage" "$out" 'event: usage'
expect_contains "then done" "$out" '"status":"complete"}'
out=$(sess http://x/careti/v1/sessions/"$ID")
expect_contains "both turns are stored" "$out" '"role":"assistant","content":"Hi! You said: explain main.c please"'
expect_contains "the title comes from the first message" "$out" '"title":"explain main.c please"'
expect_contains "totals count the tokens" "$out" '"totals":{"prompt_tokens":10'
expect_contains "the reply records its model and speed" "$out" '"model":"coder","provider":"ollama"'
expect_contains "the user message takes the server's token count" "$out" '"content":"explain main.c please","created_at":'
expect_contains "(10, as prompt_eval_count said, not the 6 estimated)" "$out" '"error":null,"tokens":10}'
log=$(emu "$O_PORT" /_emu/log)
expect_contains "the turn reaches Ollama with num_ctx" "$log" '"num_ctx":262144'
expect_eq "the database is private whatever the umask" "$(stat -c %a "$T/state/careti.db")" 600
out=$(sess -w '\n%{http_code}' -X PATCH http://x/careti/v1/sessions/"$ID" -d '{"title":null}')
expect_contains "a null title is refused (400), not a 500" "$out" $'\n400'
out=$(sess -X PATCH http://x/careti/v1/sessions/"$ID" -d '{"title":"Reading main.c"}')
expect_contains "PATCH renames" "$out" '"title":"Reading main.c"'
out=$(sess -w '\n%{http_code}' -X PATCH http://x/careti/v1/sessions/"$ID" -d '{"colour":"red"}')
expect_contains "PATCH refuses unknown fields (400)" "$out" 'unknown field \"colour\"'
out=$(sess -w '\n%{http_code}' http://x/careti/v1/sessions/ffffffff)
expect_contains "an unknown session is 404" "$out" $'\n404'
out=$(sess -w '\n%{http_code}' http://x/careti/v1/sessions/"$(head -c 100 /dev/zero | tr '\0' a)")
expect_contains "an overlong session id is 400, never left unanswered" "$out" $'\n400'
out=$(sess "http://x/careti/v1/sessions?q=main.c")
expect_contains "full-text search finds the session" "$out" "\"id\":\"$ID\""
expect_contains "with a snippet" "$out" '"match":'
out=$(sess "http://x/careti/v1/sessions?q=zebra")
expect_eq "a search with no hit is empty" "$out" '{"sessions":[]}'
out=$(sess "http://x/careti/v1/sessions/$ID/export?format=md")
expect_contains "export as Markdown" "$out" $'# Reading main.c\n\n## user\n\nexplain main.c please'
out=$(sess "http://x/careti/v1/sessions/$ID/export?format=json")
expect_contains "export as JSON" "$out" '"messages":[{'

# Two clients on one session: the second turn waits its turn (409), and
# a watcher on /events sees the reply live.
sess http://x/careti/v1/events > "$T/events.out" &
EV=$!
emu "$O_PORT" /_emu/fault '{"slow_ms":300,"count":1}' > /dev/null
sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"one two three four"}' > "$T/t1.out" &
T1=$!
sleep 0.4
out=$(sess -w '\n%{http_code}' http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"me too"}')
expect_contains "a second turn on a busy session is 409" "$out" $'\n409'
wait "$T1"
expect_contains "the first turn completes" "$(cat "$T/t1.out")" '"status":"complete"'
sleep 0.2
kill "$EV" 2> /dev/null
wait "$EV" 2> /dev/null
ev=$(cat "$T/events.out")
expect_contains "a watcher sees the user message" "$ev" 'event: message.created'
expect_contains "a watcher sees the reply's deltas" "$ev" "\"session\":\"$ID\""
expect_contains "a watcher sees the reply finish" "$ev" 'event: message.done'
expect_contains "a watcher hears the session changed" "$ev" "event: session.updated"

# Cancel keeps what arrived, marked interrupted.
emu "$O_PORT" /_emu/fault '{"slow_ms":400,"count":1}' > /dev/null
sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"a b c d e f g"}' > "$T/t2.out" &
T2=$!
sleep 0.9
out=$(sess -X POST http://x/careti/v1/sessions/"$ID"/cancel)
expect_contains "cancel answers" "$out" '"status":"interrupted"'
wait "$T2"
expect_contains "the stream ends with done: interrupted" "$(cat "$T/t2.out")" '"status":"interrupted"'
out=$(sess http://x/careti/v1/sessions/"$ID")
expect_contains "the cut reply is stored as interrupted with what arrived" "$out" '"content":"Hi! You said: ","created_at"'
out=$(sess -w '\n%{http_code}' -X POST http://x/careti/v1/sessions/"$ID"/cancel)
expect_contains "cancel with nothing running is 409" "$out" $'\n409'

# The context window: a small window drops whole old turns, never the task.
out=$(sess http://x/careti/v1/sessions -d '{"model":"coder","settings":{"context_length":1400}}')
SMALL=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
long=$(head -c 1000 /dev/zero | tr '\0' x)
for i in 1 2 3; do
    sess http://x/careti/v1/sessions/"$SMALL"/messages -d "{\"content\":\"turn$i $long\"}" > "$T/small$i.out"
done
expect_contains "an over-long history emits truncated" "$(cat "$T/small3.out")" 'event: truncated'
expect_contains "naming what was left out" "$(cat "$T/small3.out")" '"dropped_turns":'
last=$(emu "$O_PORT" /_emu/log | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=JSON.parse(s).filter(e=>e.path==="/api/chat");console.log(l[l.length-1].body.messages.map(m=>m.content.slice(0,5)).join(","))})')
expect_eq "the task and the newest message are kept, the middle dropped" "$last" "turn1,turn3"
out=$(sess http://x/careti/v1/sessions/"$SMALL")
expect_contains "the stored history stays whole" "$out" '"content":"turn2'

out=$(sess -X DELETE http://x/careti/v1/sessions/"$SMALL")
expect_contains "DELETE removes the session" "$out" "{\"deleted\":\"$SMALL\"}"

# caretictl: sessions, ask --session, and the chat REPL on a terminal.
C=("$CARETICTL" --socket "$S")
out=$("${C[@]}" sessions)
expect_contains "caretictl sessions lists them" "$out" "$ID  Reading main.c"
out=$("${C[@]}" sessions show "${ID:0:4}")
expect_contains "caretictl sessions show prints the conversation" "$out" "explain main.c please"
expect_contains "and marks interrupted replies" "$out" "assistant [interrupted]"
expect_contains "caretictl sessions search" "$("${C[@]}" sessions search main.c)" "$ID"
expect_contains "caretictl sessions export (Markdown)" "$("${C[@]}" sessions export "$ID")" $'## user\n\nexplain main.c please'
expect_contains "caretictl sessions --json" "$("${C[@]}" sessions --json)" "\"id\": \"$ID\""
out=$("${C[@]}" ask --session "$ID" follow up question)
expect_eq "caretictl ask --session continues a session" "$out" "Hi! You said: follow up question"
expect_contains "the turn is stored in the session" "$(sess http://x/careti/v1/sessions/"$ID")" '"content":"follow up question"'
"${C[@]}" ask --session "$ID" -s "be terse" hi > /dev/null 2> "$T/err"
expect_eq "ask --session refuses -s (exit 2)" "$?" 2
"${C[@]}" sessions show nosuch > /dev/null 2> "$T/err"
expect_eq "an unknown session exits 1" "$?" 1
expect_contains "naming it" "$(cat "$T/err")" 'no session "nosuch"'
out=$(printf 'first question\n/title REPL test\n/exit\n' | XDG_STATE_HOME="$T/hist" \
    "$ROOT/$BUILD/tools/ptyrun" 30 "you> " -- "${C[@]}" chat -m coder)
expect_eq "chat exits 0 on /exit" "$?" 0
expect_contains "chat creates a session" "$out" "new session "
expect_contains "chat streams the reply" "$out" "Hi! You said: first question"
expect_contains "/title renames" "$out" "title: REPL test"
check "chat keeps a history file" test -s "$T/hist/careti/chat_history"
NEWID=$(echo "$out" | sed -n 's/.*new session \([0-9a-f]*\).*/\1/p' | head -n1)
emu "$O_PORT" /_emu/fault '{"slow_ms":400,"count":1}' > /dev/null
out=$(printf 'one two three four five six\n@You said@^C\n/exit\n' | XDG_STATE_HOME="$T/hist" \
    "$ROOT/$BUILD/tools/ptyrun" 30 "you> " -- "${C[@]}" chat "$NEWID")
expect_eq "Ctrl-C in chat cancels the reply, not the REPL (exit 0 after /exit)" "$?" 0
expect_contains "chat says the reply was cancelled" "$out" "(reply cancelled)"
expect_contains "the cancelled reply is stored as interrupted" "$(sess http://x/careti/v1/sessions/"$NEWID")" '"status":"interrupted"'
out=$("${C[@]}" sessions rm "$NEWID")
expect_eq "caretictl sessions rm" "$out" "deleted $NEWID"

# SIGKILL in the middle of a reply, then restart.
emu "$O_PORT" /_emu/fault '{"slow_ms":500,"count":1}' > /dev/null
sess http://x/careti/v1/sessions/"$ID"/messages -d '{"content":"w1 w2 w3 w4 w5 w6"}' > /dev/null &
sleep 1.8
kill -KILL "$DPID"
wait "$DPID" 2> /dev/null
check "the daemon restarts on the same state" start_daemon "$T/d" "$T/c.yaml"
out=$(sess http://x/careti/v1/sessions/"$ID")
expect_contains "after SIGKILL the user message is intact" "$out" '"content":"w1 w2 w3 w4 w5 w6","created_at"'
expect_contains "the cut reply is interrupted with what was checkpointed" "$out" '"content":"Hi! You said:'
expect_contains "marked interrupted" "$(echo "$out" | tail -c 400)" '"status":"interrupted"'
expect_contains "the restart says what it recovered" "$(cat "$T/d/log")" "1 interrupted replies recovered"
check "daemon stops cleanly" stop_daemon "$DPID"

# Cancel while the model is still being looked up (a server that accepts
# and never answers), then stop: nothing waiting may outlive its turn.
node -e 'const s=require("net").createServer(()=>{}).listen(0,"127.0.0.1",()=>console.log("port "+s.address().port))' > "$T/hole.out" &
HOLE=$!
DAEMON_PIDS+=("$HOLE")
for _ in $(seq 1 100); do grep -q port "$T/hole.out" && break; sleep 0.05; done
HOLE_PORT=$(awk '{print $2}' "$T/hole.out")
write_config "$T/hole.yaml" "daemon:" "  state_dir: $T/state" "  shutdown_grace_s: 1" \
    "providers:" "  - {name: hole, type: ollama, base_url: \"http://127.0.0.1:$HOLE_PORT\"}"
check "daemon starts with a provider that never answers" start_daemon "$T/h" "$T/hole.yaml"
S="$T/h/caretid.sock"
out=$(sess http://x/careti/v1/sessions -d '{"model":"m@hole"}')
HID=$(echo "$out" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)
sess http://x/careti/v1/sessions/"$HID"/messages -d '{"content":"hello?"}' > "$T/hole-turn.out" &
HT=$!
sleep 0.5
out=$(sess -X POST http://x/careti/v1/sessions/"$HID"/cancel)
expect_contains "a turn waiting for its model can be cancelled" "$out" '"status":"interrupted"'
wait "$HT"
expect_contains "its stream ends with done" "$(cat "$T/hole-turn.out")" '"status":"interrupted"'
sess http://x/careti/v1/sessions/"$HID"/messages -d '{"content":"again"}' > /dev/null &
sleep 0.5
check "stopping with a turn still waiting exits 0" stop_daemon "$DPID"
S="$T/d/caretid.sock"

# A state_dir that cannot be used: sessions say why, models keep working.
echo "not a directory" > "$T/blocker"
write_config "$T/bad.yaml" "daemon:" "  state_dir: $T/blocker/state" \
    "providers:" "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}"
check "daemon starts with an unusable state_dir" start_daemon "$T/b" "$T/bad.yaml"
S="$T/b/caretid.sock"
out=$(sess -w '\n%{http_code}' http://x/careti/v1/sessions -d '{}')
expect_contains "session routes answer 503" "$out" $'\n503'
expect_contains "naming the directory" "$out" "cannot use daemon.state_dir $T/blocker/state"
out=$(sess http://x/api/chat -d '{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"hi"}]}')
expect_contains "the router keeps serving" "$out" '"done":true'
expect_contains "status shows the state error" "$("$CARETICTL" --socket "$S" status --json)" '"ready": false'
check "daemon stops cleanly" stop_daemon "$DPID"

finish
