#!/usr/bin/env bash
# caretictl ask -v with both outputs piped to one place: the answer's
# last line ends before the timing line starts.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
write_config "$T/c.yaml" "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

out=$(set -o pipefail; "$CARETICTL" --socket "$S" ask -v -m llama3.2 hello there 2>&1 | cat)
expect_eq "ask -v piped exits 0" "$?" 0
expect_contains "the answer is there" "$out" "You said: hello there"
last=$(printf '%s\n' "$out" | tail -n 1)
expect_contains "the timing line is a line of its own" "$last" "time to first token"
expect_eq "and starts it" "${last%%time to first token*}" ""
expect_eq "the answer's line ends without it" "$(printf '%s\n' "$out" | grep -c 'hello theretime')" 0
finish
