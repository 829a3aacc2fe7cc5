#!/usr/bin/env bash
# caretictl doctor against emulator states, with memory and disk read
# from fixtures (CARETI_DOCTOR_FIXTURES).
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
start_emu lmstudio L || exit 1
start_emu openai A || exit 1
FX="$T/fixtures"
mkdir -p "$FX"
export CARETI_DOCTOR_FIXTURES="$FX"
memory() { printf 'MemTotal:       %d kB\nMemFree:          1000 kB\n' $(($1 * 1024 * 1024)) > "$FX/meminfo"; }
disk() { echo "$1 500000000000" > "$FX/statvfs"; }

# doctor DIR MODEL [PROVIDERS...]: (re)start a daemon with defaults.model.
doctor_daemon() {
    local dir=$1 model=$2
    shift 2
    write_config "$T/$dir.yaml" "daemon:" "  state_dir: $T/state-$dir" "providers:" "$@" \
        "defaults:" "  model: \"$model\""
    start_daemon "$T/$dir" "$T/$dir.yaml" || return 1
    S="$T/$dir/caretid.sock"
    # Else the doctor would rightly say the database is still opening.
    wait_store_open "$S"
}
OLLAMA="  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}"
LMS="  - {name: lmstudio, type: lmstudio, base_url: \"http://127.0.0.1:$L_PORT\"}"
LLAMACPP="  - {name: llamacpp, type: openai, base_url: \"http://127.0.0.1:$A_PORT/v1\"}"
DEAD="  - {name: dead, type: ollama, base_url: \"http://127.0.0.1:9\"}"

memory 64
disk 100000000000
echo 4 > "$FX/landlock"
check "daemon starts" doctor_daemon good "qwen3-coder:30b" "$OLLAMA" "$LMS"
out=$("$CARETICTL" --socket "$S" doctor)
code=$?
expect_eq "a healthy setup exits 0" "$code" 0
expect_contains "the daemon check" "$out" "ok   daemon"
expect_contains "providers answer, with Ollama's version" "$out" "answers: version 0.33.0"
expect_contains "64 GiB recommends the 8-bit 30B coder" "$out" "Qwen3 Coder 30B 8-bit fits (about 32 GB)"
expect_contains "the default model is found with its quantization" "$out" "qwen3-coder:30b on ollama, Q4_K_M"
expect_contains "context: the server alone would cut to the Modelfile's num_ctx" "$out" "Modelfile num_ctx 8192"
expect_contains "context: caretid sends num_ctx itself" "$out" "caretid sends num_ctx with every request to Ollama"
expect_contains "the compact prompt check" "$out" "ok   compact prompt"
expect_contains "the KV cache and flash attention advice" "$out" "OLLAMA_FLASH_ATTENTION=1"
expect_contains "free disk where Ollama keeps models" "$out" "100.0 GB free where ollama keeps models"
expect_contains "the probe measures speed" "$out" "tokens/s"
expect_contains "the summary line" "$out" "0 failed, 0 warnings"
json=$("$CARETICTL" --socket "$S" doctor --json)
expect_contains "--json gives every check" "$json" '"check": "probe"'
expect_contains "the sandbox in force, with Landlock's ABI" "$out" $'ok   sandbox\n     landlock (ABI 4)'
echo -38 > "$FX/landlock" # ENOSYS: a kernel built without Landlock
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "a kernel without Landlock warns" "$out" $'warn sandbox\n     unavailable (kernel without Landlock): commands run unsandboxed'
expect_contains "with the kernel to run, or how to say unsandboxed is meant" "$out" "CONFIG_SECURITY_LANDLOCK"
echo -95 > "$FX/landlock" # EOPNOTSUPP: built in, off at boot
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "Landlock off at boot: the lsm= parameter" "$out" "add landlock to its lsm= boot parameter"
rm "$FX/landlock"
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "without a fixture the kernel is asked" "$out" "sandbox"$'\n'"     "
stop_daemon "$DPID"

write_config "$T/off.yaml" "daemon:" "  state_dir: $T/state-off" "providers:" "$OLLAMA" \
    "defaults:" "  model: \"qwen3-coder:30b\"" "agent:" "  sandbox: off"
check "daemon starts" start_daemon "$T/off" "$T/off.yaml"
S="$T/off/caretid.sock"
wait_store_open "$S"
echo 4 > "$FX/landlock"
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "agent.sandbox: off is said, whatever the kernel has" "$out" $'ok   sandbox\n     off (agent.sandbox: off)'
rm "$FX/landlock"
stop_daemon "$DPID"

memory 16
disk 3000000000
check "daemon starts" doctor_daemon down "nosuch-model" "$OLLAMA" "$DEAD"
out=$("$CARETICTL" --socket "$S" doctor)
expect_eq "a failing check exits 1" "$?" 1
expect_contains "a provider that is down fails, naming the port and the fix" "$out" "dead at http://127.0.0.1:9 refused the connection"
expect_contains "its fix names the default port" "$out" "it listens on 11434 by default"
expect_contains "16 GiB warns about small models" "$out" "models under 30B often fail at tool use; the best that fits is qwen3:14b"
expect_contains "a missing default model fails" "$out" "fail default model"
expect_contains "with the pull command" "$out" "ollama pull nosuch-model"
expect_contains "little free disk fails" "$out" "fail disk for ollama"
stop_daemon "$DPID"

memory 32
disk 100000000000
check "daemon starts" doctor_daemon small "smallctx:7b" "$OLLAMA"
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "32 GiB recommends the 4-bit 30B coder" "$out" "Qwen3 Coder 30B 4-bit fits (about 17 GB)"
expect_contains "a model trained on less than the configured window warns" "$out" "the model stops at 8192 tokens"
"$CARETICTL" --socket "$S" doctor > /dev/null
expect_eq "warnings alone exit 0" "$?" 0
"$CARETICTL" --socket "$S" doctor --strict > /dev/null
expect_eq "--strict makes warnings exit 1" "$?" 1
emu "$O_PORT" /_emu/fault '{"eval_ns":9000000000,"count":1}' > /dev/null
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "a slow model is set against 5-20 tokens/s" "$out" "below the 5-20 tokens/s usual"
stop_daemon "$DPID"

memory 128
check "daemon starts" doctor_daemon lms "gemma-3-12b" "$LMS"
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "128 GiB recommends GLM-4.5-Air" "$out" "GLM-4.5-Air 4-bit fits"
expect_contains "a model not loaded in LM Studio warns" "$out" "gemma-3-12b is not loaded in lmstudio"
expect_contains "with the lms command that loads it with the context" "$out" "lms load gemma-3-12b --context-length 262144"
expect_contains "free disk where LM Studio keeps models" "$out" "where lmstudio keeps models"
stop_daemon "$DPID"

check "daemon starts" doctor_daemon llamacpp "local-model" "$LLAMACPP"
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "a llama.cpp server started with a smaller window warns" "$out" "the server cuts prompts at 8192 tokens"
expect_contains "with llama.cpp's -c for the configured window" "$out" '`-c 262144`'
expect_contains "and says that -np divides it" "$out" '`-np N` divides -c among N slots'
expect_not_contains "and no LM Studio command" "$out" "lms load"
expect_contains "tokens/s from llama.cpp's own timings, not the daemon's clock" "$out" "40.0 tokens/s"
expect_eq "the last line counts one warning in the singular" "$(tail -n1 <<< "$out")" "0 failed, 1 warning"
stop_daemon "$DPID"

memory 24
check "daemon starts" doctor_daemon big "huge:70b" "$OLLAMA"
out=$("$CARETICTL" --socket "$S" doctor)
expect_contains "a model over 80% of memory warns" "$out" "42.0 GB is over 80% of memory"
expect_contains "24 GiB: the 30B model fits, with little room for its context" "$out" "Qwen3 Coder 30B 4-bit (about 19 GB) fits with little to spare"
expect_not_contains "  and is not called too small" "$out" "models under 30B often fail"
stop_daemon "$DPID"

out=$("$CARETICTL" --socket "$T/none.sock" doctor)
expect_eq "doctor without a daemon exits 3" "$?" 3
expect_contains "and says the daemon check failed" "$out" "fail daemon"
finish
