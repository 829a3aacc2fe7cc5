#!/usr/bin/env bash
# caretictl chat -m MODEL checks the model before it creates a session:
# a name no server has leaves no empty session behind.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "models:" "  coder: {provider: ollama, model: \"qwen3-coder:30b\"}" \
    "defaults:" "  model: coder"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
wait_store_open "$S"
count() { "$CARETICTL" --socket "$S" sessions list --json | grep -c '"id"'; }
before=$(count)

out=$(printf 'hello\n' | "$CARETICTL" --socket "$S" chat -m nosuch 2>&1)
expect_eq "chat -m with an unknown model exits 1" "$?" 1
expect_contains "saying the model is not found" "$out" "model 'nosuch' not found"
expect_not_contains "before creating a session" "$out" "new session"
expect_eq "no session was created" "$(count)" "$before"

out=$(printf 'hello\n' | "$CARETICTL" --socket "$S" chat -m llama3.2 2>&1)
expect_eq "chat -m with an installed model works" "$?" 0
expect_contains "and creates its session" "$out" "new session"
expect_eq "one session more" "$(count)" "$((before + 1))"
finish
