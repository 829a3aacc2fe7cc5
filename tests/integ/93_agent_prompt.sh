#!/usr/bin/env bash
# The agent's system prompt as the daemon serves it: the pinned text, the
# same on every call, shorter than Cline's compact prompt.
. "$(dirname "$0")/lib.sh"

check "daemon starts" start_daemon "$T/d" /dev/null
S="$T/d/caretid.sock"
field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(String(JSON.parse(s)[process.argv[1]])))' "$1"; }
for mode in act plan; do
    for tools in text native; do
        out=$(curl -s --unix-socket "$S" "http://x/careti/v1/agent/prompt?mode=$mode&tools=$tools")
        check "GET /careti/v1/agent/prompt ($mode, $tools) is the pinned prompt" \
            cmp -s <(echo "$out" | field prompt) "$ROOT/tests/cases/prompt/$mode-$tools.txt"
        n=$(echo "$out" | field characters)
        check "  $n characters, fewer than Cline's 5,779" test "$n" -lt 5779
        again=$(curl -s --unix-socket "$S" "http://x/careti/v1/agent/prompt?mode=$mode&tools=$tools")
        expect_eq "  and the same bytes on the next call" "$again" "$out"
    done
done
out=$(curl -s --unix-socket "$S" "http://x/careti/v1/agent/prompt")
expect_contains "act and text by default" "$out" '"mode":"act","tools":"text"'
out=$(curl -s -w '\n%{http_code}' --unix-socket "$S" "http://x/careti/v1/agent/prompt?mode=yolo")
expect_contains "an unknown mode is 400, naming the choices" "$out" 'mode must be act or plan'
check "daemon stops cleanly" stop_daemon "$DPID"

finish
