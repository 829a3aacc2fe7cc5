#!/usr/bin/env bash
# Shell completions: generated from caretictl's command table (every
# command and every option its usage names is offered), installed by
# `make install`, and completing model names and session ids from the
# daemon when it runs.
. "$(dirname "$0")/lib.sh"

start_emu ollama O || exit 1
write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" "providers:" \
    "  - {name: ollama, type: ollama, base_url: \"http://127.0.0.1:$O_PORT\"}" \
    "models:" "  coder: {provider: ollama, model: \"qwen3-coder:30b\"}"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"
wait_store_open "$S"
SID=$(curl -s --unix-socket "$S" http://x/careti/v1/sessions -d '{}' | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
check "a session to complete" test -n "$SID"

"$CARETICTL" __complete bash > "$T/caretictl.bash"
expect_eq "__complete bash exits 0" "$?" 0
check "the bash script parses" bash -n "$T/caretictl.bash"
out=$("$CARETICTL" help)
expect_not_contains "__complete is hidden from help" "$out" "__complete"

# comp WORD...: what bash completes for the command line WORD... (the
# last word is the one under the cursor), one candidate a line.
comp() {
    PATH="$ROOT/$BUILD:$PATH" bash -c '
        . "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        _caretictl
        [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' _ "$T/caretictl.bash" caretictl "$@" | sort | tr '\n' ' '
}
expect_eq "command names" "$(comp st)" "stats status "
expect_contains "every command" "$(comp '')" "bench chat doctor help models ps pull reload sessions stats status version"
expect_contains "global options" "$(comp --v)" "--version"
# Every option each command's usage names is offered for it.
missing=""
for c in $("$CARETICTL" help | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p'); do
    usage=$("$CARETICTL" help "$c" | head -n 1)
    offered=$(comp "$c" -)
    for o in $(printf '%s\n' "$usage" | grep -o -- '-[-a-z]*[a-z]' | sort -u); do
        [[ " $offered " == *" $o "* ]] || missing+=" $c:$o"
    done
done
expect_eq "every option of every command's usage is offered" "$missing" ""
expect_contains "an alias completes like its command" "$(comp ls --)" "--help --json --socket"
expect_eq "models after -m, from the daemon" "$(comp --socket "$S" ask -m qwen3-c)" "qwen3-coder:30b "
expect_contains "aliases among them" "$(comp --socket "$S" chat -m co)" "coder"
expect_eq "session ids for chat" "$(comp --socket "$S" chat "${SID:0:3}")" "$SID "
expect_eq "sessions' subcommands" "$(comp sessions s)" "search show "
expect_eq "session ids after show" "$(comp --socket "$S" sessions show "")" "$SID "
expect_eq "export's formats" "$(comp sessions export "$SID" "")" "json md "
expect_eq "help completes commands" "$(comp help do)" "doctor "
expect_eq "without a daemon, no models and no noise" "$(comp --socket "$T/none.sock" ask -m "")" ""

if command -v zsh > /dev/null; then
    "$CARETICTL" __complete zsh > "$T/_caretictl"
    check "the zsh script parses" zsh -n "$T/_caretictl"
    # zcomp WORD...: what zsh completes, with compadd (which keeps what
    # matches the word under the cursor, as zsh's does) and _files stubbed.
    zcomp() {
        PATH="$ROOT/$BUILD:$PATH" zsh -fc '
            compadd() { [[ $1 == -- ]] && shift; local c; for c; do [[ $c == ${words[CURRENT]}* ]] && print -- $c; done; }
            _files() { print -- "<files>"; }
            f=$1; shift
            words=("$@"); CURRENT=$#
            source "$f"' _ "$T/_caretictl" caretictl "$@" | sort | tr '\n' ' '
    }
    expect_eq "zsh: command names" "$(zcomp st)" "stats status "
    expect_eq "zsh: models after -m" "$(zcomp --socket "$S" ask -m "")" \
        "$(comp --socket "$S" ask -m "")"
    expect_eq "zsh: export's formats" "$(zcomp sessions export "$SID" "")" "json md "
    expect_eq "zsh: session ids" "$(zcomp --socket "$S" sessions rm "")" "$SID "
else
    echo "# zsh not installed: its script is not run"
fi

make -s -C "$ROOT" install DESTDIR="$T/inst" PREFIX=/usr BUILD="$BUILD" > "$T/install.log" 2>&1
expect_eq "make install succeeds" "$?" 0
check "it installs the bash completion" test -s "$T/inst/usr/share/bash-completion/completions/caretictl"
check "and the zsh one" test -s "$T/inst/usr/share/zsh/site-functions/_caretictl"
finish
