#!/usr/bin/env bash
# The context window of an OpenAI-compatible server is the one it loaded
# (llama.cpp's meta.n_ctx), not the configured one: listings show it, and
# a prompt that clearly cannot fit is refused with the fix, before the
# server cuts or rejects it in its own words.
. "$(dirname "$0")/lib.sh"

start_emu openai A || exit 1
write_config "$T/c.yaml" "providers:" \
    "  - {name: llamacpp, type: openai, base_url: \"http://127.0.0.1:$A_PORT/v1\"}" \
    "models:" "  coder: {provider: llamacpp, model: local-model, context_length: 262144}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

out=$(curl -s --unix-socket "$S" http://x/v1/models)
expect_contains "/v1/models gives the alias the window the server loaded" "$out" \
    '"id":"coder","object":"model","created":0,"owned_by":"careti","alias_of":"local-model@llamacpp","provider":"llamacpp","context_length":8192'
expect_contains "and the configured one beside it" "$out" '"configured_context_length":262144'
out=$("$CARETICTL" --socket "$S" models | grep '^coder ')
expect_contains "caretictl models shows 8192 for the alias" "$out" " 8192 "

big=$(head -c 60000 /dev/zero | tr '\0' 'x' | fold -w 79 | tr '\n' ' ')
emu "$A_PORT" /_emu/reset '{}' > /dev/null
out=$(api_status /v1/chat/completions "{\"model\":\"coder\",\"messages\":[{\"role\":\"user\",\"content\":\"$big\"}]}")
expect_eq "a prompt that clearly exceeds the loaded window is a 400" "${out##*$'\n'}" 400
expect_contains "saying how large it is and what the server loaded" "$out" \
    "more than the 8192-token window llamacpp loaded local-model with"
expect_contains "with llama.cpp's fix" "$out" '`-c '
expect_contains "in OpenAI's dialect" "$out" '"type":"invalid_request_error"'
out=$(api_status /api/chat "{\"model\":\"coder\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"$big\"}]}")
expect_contains "and in Ollama's" "$out" '{"error":"the prompt is about'
expect_not_contains "the server never saw them" "$(emu "$A_PORT" /_emu/log)" '/v1/chat/completions'

half=$(head -c 20000 /dev/zero | tr '\0' 'y')
out=$(api_status /v1/chat/completions "{\"model\":\"coder\",\"messages\":[{\"role\":\"user\",\"content\":\"$half\"}]}")
expect_eq "a prompt that may fit goes to the server" "${out##*$'\n'}" 200
img="data:image/png;base64,$(head -c 90000 /dev/zero | tr '\0' 'A')"
out=$(api_status /v1/chat/completions "{\"model\":\"coder\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what is this\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"$img\"}}]}]}")
expect_eq "an image's bytes are not counted as text" "${out##*$'\n'}" 200
finish
