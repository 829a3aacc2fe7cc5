#!/usr/bin/env bash
# caretictl acp under clients nobody here wrote: the official ACP SDK
# (ClientSideConnection) and acpx, from tests/compat's pinned packages,
# against a real daemon and the scripted emulator (tests/compat/acp.mjs).
. "$(dirname "$0")/lib.sh"

if [ ! -d "$ROOT/tests/compat/node_modules/@agentclientprotocol/sdk" ] || [ ! -d "$ROOT/tests/compat/node_modules/acpx" ]; then
    not_ok "ACP clients installed" "run: npm ci --prefix tests/compat (make check does)"
    finish
    exit 1
fi
start_emu ollama O || exit 1
write_config "$T/c.yaml" \
    "daemon:" "  state_dir: $T/state" \
    "defaults: {model: coder}" \
    "providers:" "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "models:" "  coder: {provider: ollama, model: \"qwen3-coder:30b\", tools: text}" \
    "agent: {max_steps: 6}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
wait_store_open "$S"
mkdir -p "$T/work"
# The script kills this daemon; no job notice for it.
disown "$DPID"
echo "$DPID" > "$T/daemon.pid"
CARETICTL="$CARETICTL" CARETID="$CARETID" CARETI_SOCKET="$S" CARETI_CONFIG="$T/c.yaml" \
    EMU="http://127.0.0.1:$O_PORT" WORK="$T/work" PIDFILE="$T/daemon.pid" \
    node "$ROOT/tests/compat/acp.mjs" > "$T/acp.out" 2>&1
code=$?
# The test restarts the daemon: the one running now is the pid it wrote.
DPID=$(cat "$T/daemon.pid")
DAEMON_PIDS+=("$DPID")
cat "$T/acp.out"
PASSED=$((PASSED + $(grep -c '^ok - ' "$T/acp.out")))
FAILED=$((FAILED + $(grep -c '^not ok - ' "$T/acp.out")))
[ "$code" -eq 0 ] || [ "$FAILED" -gt 0 ] || not_ok "acp.mjs ran to the end" "exit $code"
kill -TERM "$DPID" 2>/dev/null
finish
