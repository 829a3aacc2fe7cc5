#!/usr/bin/env bash
# The default model, as a newcomer meets it: the example config's alias
# names a model that is not installed, or whose server is down.  Every
# way in (bare ask, bench, chat's first turn, an API client, doctor) says
# that it is the default, where it is set, how to get it and how to pick
# another.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu lmstudio L || exit 1
FX="$T/fixtures"
mkdir -p "$FX"
printf 'MemTotal:       %d kB\nMemFree:          1000 kB\n' $((64 * 1024 * 1024)) > "$FX/meminfo"
echo "100000000000 500000000000" > "$FX/statvfs"
export CARETI_DOCTOR_FIXTURES="$FX"

C="$T/c.yaml"
write_config "$C" "daemon:" "  state_dir: $T/state" "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT\"}" \
    "  - {name: dead, type: ollama, base_url: \"http://127.0.0.1:9\"}" \
    "models:" \
    "  coder: {provider: ollama, model: \"qwen3-coder:480b\"}" \
    "  studio: {provider: lmstudio, model: \"devstral-small\"}" \
    "  gone: {provider: dead, model: \"llama3.2\"}" \
    "defaults:" "  model: coder"
check "daemon starts" start_daemon "$T/d" "$C"
S="$T/d/caretid.sock"
wait_store_open "$S"

out=$("$CARETICTL" --socket "$S" ask hello 2>&1)
expect_eq "bare ask with a missing default fails" "$?" 1
expect_contains "it says the model is the default and where that is set" "$out" \
    "the default model 'coder' (defaults.model in $C) is qwen3-coder:480b on ollama, which is not installed there"
expect_contains "it gives the pull command" "$out" 'ollama pull qwen3-coder:480b'
expect_contains "and -m" "$out" "-m MODEL"
expect_not_contains "not the bare upstream 404" "$out" "model 'qwen3-coder:480b' not found"

out=$("$CARETICTL" --socket "$S" bench -n 1 2>&1)
expect_contains "bench says the same" "$out" "the default model 'coder' (defaults.model in $C)"
out=$(printf 'hello\n' | "$CARETICTL" --socket "$S" chat 2>&1)
expect_contains "chat's first turn says the same" "$out" "the default model 'coder' (defaults.model in $C)"

out=$(api_status /v1/chat/completions '{"model":"studio","messages":[{"role":"user","content":"hi"}]}')
expect_eq "an alias to a model LM Studio lacks is a 404" "${out##*$'\n'}" 404
expect_contains "naming the alias, its key and lms get" "$out" \
    "model 'studio' (models.studio in $C) is devstral-small on lmstudio, which is not installed there; get it with \`lms get devstral-small\`"

out=$("$CARETICTL" --socket "$S" doctor)
expect_eq "doctor with a missing default exits 1" "$?" 1
expect_contains "doctor fails the default model check" "$out" "fail default model"
expect_contains "with the pull command" "$out" "ollama pull qwen3-coder:480b"
stop_daemon "$DPID"

sed -i 's/^  model: coder$/  model: gone/' "$C"
check "daemon starts with the default on a server that is down" start_daemon "$T/d2" "$C"
S="$T/d2/caretid.sock"
wait_store_open "$S"
out=$("$CARETICTL" --socket "$S" doctor)
expect_eq "doctor with the default's server down exits 1" "$?" 1
expect_contains "doctor fails the default model check" "$out" "fail default model"
expect_contains "naming the server that is down" "$out" "dead at http://127.0.0.1:9"
expect_not_contains "and not ok" "$out" "ok   default model"
stop_daemon "$DPID"
finish
