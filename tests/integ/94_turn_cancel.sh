#!/usr/bin/env bash
# A turn cancelled while its model is being looked up ends at once, not
# when the catalogue's timeout runs out; and a daemon stopping with a
# turn in that state ends it cleanly.
. "$(dirname "$0")/lib.sh"

# A model server that accepts connections and never answers.
node -e 'const s=require("net").createServer(()=>{}).listen(0,"127.0.0.1",()=>console.log(s.address().port))' > "$T/hole.out" &
DAEMON_PIDS+=("$!")
for _ in $(seq 1 100); do [ -s "$T/hole.out" ] && break; sleep 0.05; done
HOLE=$(cat "$T/hole.out")
write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" "  shutdown_grace_s: 1" \
    "providers:" "  - {name: silent, type: ollama, base_url: \"http://127.0.0.1:$HOLE\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
ID=$(curl -s --unix-socket "$S" http://x/careti/v1/sessions -d '{"model":"anything"}' | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n1)

curl -s -N --max-time 30 --unix-socket "$S" "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"hello"}' > "$T/turn.out" &
turn=$!
for _ in $(seq 1 100); do grep -q '^event: message' "$T/turn.out" 2>/dev/null && break; sleep 0.05; done
sleep 0.2 # now waiting for the silent server's catalogue
t0=$(date +%s%N)
out=$(curl -s --unix-socket "$S" -X POST "http://x/careti/v1/sessions/$ID/cancel")
expect_contains "cancel during the model lookup is accepted" "$out" '"status":"interrupted"'
wait "$turn"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "the turn's stream ends at once (${ms} ms), not after the catalogue timeout" test "$ms" -lt 3000
expect_contains "with done: interrupted" "$(cat "$T/turn.out")" '"status":"interrupted"}'
out=$(curl -s -w '\n%{http_code}' --unix-socket "$S" -X POST "http://x/careti/v1/sessions/$ID/cancel")
expect_contains "the session has no reply in progress afterwards" "$out" $'\n409'

# Stopping with a turn in the lookup: it ends, the daemon exits 0.
curl -s -N --max-time 30 --unix-socket "$S" "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"again"}' > "$T/turn2.out" &
turn=$!
for _ in $(seq 1 100); do grep -q '^event: message' "$T/turn2.out" 2>/dev/null && break; sleep 0.05; done
stop_daemon "$DPID"
expect_eq "a daemon stopped with a turn in its lookup exits 0" "$?" 0
wait "$turn"
expect_contains "and the turn's stream ended with done: interrupted" "$(cat "$T/turn2.out")" '"status":"interrupted"}'


# A turn whose client has left is the daemon's: it gets the grace period
# too, and is stored interrupted when it runs out.
check "daemon starts again" start_daemon "$T/d" "$T/c.yaml"
curl -s -N --max-time 2 --unix-socket "$S" "http://x/careti/v1/sessions/$ID/messages" -d '{"content":"left"}' > /dev/null
t0=$(date +%s%N)
stop_daemon "$DPID"
expect_eq "the daemon stops (exit 0)" "$?" 0
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "after giving the client-less turn its grace (${ms} ms >= 900)" test "$ms" -ge 900
expect_contains "the log says the grace ran out on it" "$(cat "$T/d/log")" "interrupting the replies still running"

finish
