#!/usr/bin/env bash
# A model name that is not found: the suggestions include the config's
# aliases, and the refusal does not tell one to fetch a typo.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu lmstudio L || exit 1
write_config "$T/c.yaml" "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT\"}" \
    "models:" "  chat-tools: {provider: ollama, model: \"llama3.2\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
chat() { api_status /api/chat "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"; }

out=$(chat chat-tool)
expect_eq "a typo of an alias is a 404" "${out##*$'\n'}" 404
expect_contains "the alias is suggested" "$out" "closest: chat-tools (alias)"
expect_not_contains "and the typo is not to be pulled" "$out" "ollama pull chat-tool"
out=$(chat gemma3:12b)
expect_contains "a near miss of an installed name is suggested" "$out" "closest: gemma-3-12b (lmstudio)"
expect_not_contains "and not pulled" "$out" "ollama pull gemma3:12b"
out=$(chat qwen3-codr)
expect_not_contains "a typo with a tag missing is not pulled" "$out" "ollama pull qwen3-codr"
out=$(chat qwen3-coder:480b)
expect_contains "another tag of an installed model may be pulled" "$out" "get it with \`ollama pull qwen3-coder:480b\`"
out=$(chat deepseek-r1:8b)
expect_contains "so may a name unlike any installed one" "$out" "get it with \`ollama pull deepseek-r1:8b\`"
finish
