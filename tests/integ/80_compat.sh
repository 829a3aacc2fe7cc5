#!/usr/bin/env bash
# The official openai and ollama npm clients against caretid, over TCP and
# the Unix socket, for each provider type.  `make check` installs the
# pinned packages (tests/compat/package-lock.json).
. "$(dirname "$0")/lib.sh"

if [ ! -d "$ROOT/tests/compat/node_modules/openai" ] || [ ! -d "$ROOT/tests/compat/node_modules/ollama" ]; then
    not_ok "compat clients installed" "run: npm ci --prefix tests/compat (make check does)"
    finish
    exit 1
fi
start_emu ollama O || exit 1
start_emu lmstudio L || exit 1
start_emu openai A || exit 1
write_config "$T/c.yaml" \
    "daemon:" "  listen: [\"127.0.0.1:0\"]" \
    "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT\"}" \
    "  - {name: llamacpp, type: openai, base_url: \"http://127.0.0.1:$A_PORT/v1\"}" \
    "  - {name: dead, type: ollama, base_url: \"http://127.0.0.1:9\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
port=$(tcp_port "$S")
CARETI_TCP="http://127.0.0.1:$port" CARETI_TOKEN="$(tcp_token "$S")" CARETI_SOCKET="$S" EMU_OLLAMA="http://127.0.0.1:$O_PORT" \
    EMU_LMSTUDIO="http://127.0.0.1:$L_PORT" node "$ROOT/tests/compat/compat.mjs" > "$T/compat.out" 2>&1
code=$?
cat "$T/compat.out"
PASSED=$((PASSED + $(grep -c '^ok - ' "$T/compat.out")))
FAILED=$((FAILED + $(grep -c '^not ok - ' "$T/compat.out")))
sed -i '/^ok - \|^not ok - /d' "$T/compat.out"
[ "$code" -eq 0 ] || [ "$FAILED" -gt 0 ] || not_ok "compat script ran to the end" "exit $code"
check "daemon stops cleanly" stop_daemon "$DPID"
finish
