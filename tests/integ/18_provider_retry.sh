#!/usr/bin/env bash
# A model server that was down and comes back: its catalogue is fetched
# again within seconds, not after the 30 s a good one is kept; status
# says how old an unreachable verdict is; and a burst of requests while
# it is down logs its refusal once, not once per request.
. "$(dirname "$0")/lib.sh"

# A port nothing listens on, that an emulator can take later.
start_emu ollama GONE || exit 1
kill "${EMU_PIDS[0]}"
wait "${EMU_PIDS[0]}" 2>/dev/null
write_config "$T/c.yaml" "providers:" \
    "  - {name: late, type: ollama, base_url: \"http://127.0.0.1:$GONE_PORT\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

for i in $(seq 1 10); do
    api /api/chat '{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}' > /dev/null
done
refusals=$(grep -c "catalogue: late" "$T/d/log")
expect_eq "ten requests while it is down log its refusal once" "$refusals" 1
out=$("$CARETICTL" --socket "$S" status)
expect_contains "status says it is unreachable, and since when" "$out" "unreachable (checked "
json=$("$CARETICTL" --socket "$S" status --json)
expect_contains "status --json has the verdict's age" "$json" '"checked_s_ago": '

node "$EMU" ollama "$GONE_PORT" > "$T/emu-back.out" 2>&1 &
DAEMON_PIDS+=("$!")
for _ in $(seq 1 100); do grep -q '^port ' "$T/emu-back.out" && break; sleep 0.05; done
back=no
for _ in $(seq 1 80); do # 8 s, well under the 30 s a good catalogue is kept
    if "$CARETICTL" --socket "$S" models 2>/dev/null | grep -q "llama3.2:latest"; then
        back=yes
        break
    fi
    sleep 0.1
done
expect_eq "its models are listed within seconds of its return" "$back" yes
out=$("$CARETICTL" --socket "$S" status)
expect_not_contains "and status no longer says unreachable" "$out" "unreachable"
expect_contains "the log says it answers again" "$(cat "$T/d/log")" "catalogue: late at http://127.0.0.1:$GONE_PORT answers again"
finish
