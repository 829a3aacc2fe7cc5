#!/usr/bin/env bash
# created_at in Ollama answers translated from an OpenAI-compatible
# server: the wall clock with its sub-second part, never before the
# request was sent, and never going back from one answer to the next.
. "$(dirname "$0")/lib.sh"

start_emu openai A || exit 1
write_config "$T/c.yaml" "providers:" \
    "  - {name: llamacpp, type: openai, base_url: \"http://127.0.0.1:$A_PORT/v1\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

# ns since the epoch of an RFC 3339 UTC stamp with nanoseconds.
stamp_ns() { local s=${1%.*} f=${1#*.}; f=${f%Z}; echo "$(date -u -d "$s" +%s)$f"; }
all=()
late=0
for i in 1 2 3; do
    before=$(date +%s%N)
    out=$(api /api/chat '{"model":"local-model","messages":[{"role":"user","content":"hello there"}]}')
    for s in $(printf '%s\n' "$out" | sed -n 's/.*"created_at":"\([^"]*\)".*/\1/p'); do
        all+=("$s")
        [ "$(stamp_ns "$s")" -ge "$before" ] || late=$((late + 1))
    done
    out=$(api /api/chat '{"model":"local-model","stream":false,"messages":[{"role":"user","content":"hi"}]}')
    all+=("$(printf '%s\n' "$out" | sed -n 's/.*"created_at":"\([^"]*\)".*/\1/p')")
done
check "every answer has created_at" test "${#all[@]}" -ge 6
expect_contains "with nanoseconds" "${all[0]}" "."
expect_eq "none is before its request was sent (sub-second part kept)" "$late" 0
sorted=$(printf '%s\n' "${all[@]}" | sort)
expect_eq "created_at never goes back" "$(printf '%s\n' "${all[@]}")" "$sorted"
finish
