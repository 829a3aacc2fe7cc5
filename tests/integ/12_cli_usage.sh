#!/usr/bin/env bash
# caretictl's usage, as a newcomer meets it: -h/--help for every command,
# --version, and a suggestion for a mistyped command.  No daemon runs:
# asking for help must never reach one.
. "$(dirname "$0")/lib.sh"

NONE="$T/none/caretid.sock"
mkdir -p -m 700 "$T/none"
cmds=$("$CARETICTL" help | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p')
check "help lists the commands" test -n "$cmds"
for c in $cmds; do
    for flag in -h --help; do
        out=$("$CARETICTL" --socket "$NONE" "$c" "$flag" 2>&1 < /dev/null)
        code=$?
        expect_eq "$c $flag exits 0" "$code" 0
        expect_contains "$c $flag prints its usage" "$out" "usage: caretictl $c"
    done
done
out=$("$CARETICTL" --socket "$NONE" ask -m coder --help 2>&1)
expect_eq "--help after an option still exits 0" "$?" 0
out=$("$CARETICTL" --socket "$NONE" pull --help 2>&1)
expect_eq "pull --help does not pull (no daemon is asked)" "$?" 0
expect_not_contains "pull --help names no model" "$out" "pulling"
out=$("$CARETICTL" --socket "$NONE" ask -- -h 2>&1)
expect_eq "after --, -h is a prompt (the daemon is asked: exit 3)" "$?" 3

out=$("$CARETICTL" --version)
expect_eq "--version exits 0" "$?" 0
expect_contains "--version names the client" "$out" "caretictl 0.1.0"
out=$("$CARETICTL" -V)
expect_contains "-V is --version" "$out" "caretictl 0.1.0"

out=$("$CARETICTL" reloda 2>&1)
expect_eq "a mistyped command exits 2" "$?" 2
expect_contains "with a did-you-mean" "$out" 'unknown command "reloda"; did you mean "reload"?'
out=$("$CARETICTL" sesions 2>&1)
expect_contains "a letter missing" "$out" 'did you mean "sessions"?'
out=$("$CARETICTL" frobnicate 2>&1)
expect_not_contains "no suggestion for a word far from any command" "$out" "did you mean"
finish
