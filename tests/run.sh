#!/usr/bin/env bash
# Run every test against each build (plain and ASan+UBSan) and end with
# one line "N passed, N failed".  Exit status is 0 only when none failed.
#   tests/run.sh [--integ-only] [--build DIR]...
set -u
cd "$(dirname "$0")/.."
builds=()
integ_only=false
while [ $# -gt 0 ]; do
    case $1 in
        --integ-only) integ_only=true ;;
        --build) builds+=("$2"); shift ;;
        *) echo "usage: tests/run.sh [--integ-only] [--build DIR]..." >&2; exit 2 ;;
    esac
    shift
done
[ ${#builds[@]} -gt 0 ] || builds=(build build/san)
passed=0
failed=0

result() { # NAME STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then
        echo "ok - $1"; passed=$((passed + 1))
    else
        echo "not ok - $1${3:+: $3}"; failed=$((failed + 1))
    fi
}

static_checks() {
    local cflags out h
    cflags="-std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude $(pkg-config --cflags libuv libcurl jansson yaml-0.1)"
    for h in include/careti/*/*.h src/cli/ctl.h; do
        out=$(printf '#include "%s"\n' "$PWD/$h" | cc $cflags -fsyntax-only -x c - 2>&1)
        result "header compiles alone: $h" $? "$out"
    done
    out=$(grep -nE '\b(sprintf|strcpy|strcat|gets|atoi|strtok|system)[[:space:]]*\(' src/*.c src/*/*.c \
        src/*/*.h include/careti/*/*.h)
    [ -z "$out" ]
    result "no banned calls in src/ and include/" $? "$out"
    out=$(tests/check_rooms.sh 2>&1)
    result "includes run down the rooms (tests/check_rooms.sh)" $? "$out"
    out=$(mandoc -T lint -W warning man/*.[158] 2>&1)
    [ -z "$out" ]
    result "mandoc -T lint is clean" $? "$out"
    if [ "${CI:-}" = true ]; then
        out=$(git status --porcelain --untracked-files=no)
        [ -z "$out" ]
        result "the build leaves tracked files unchanged" $? "$out"
    fi
}

unit_tests() { # BUILD
    local t out checks fails errors
    for t in "$1"/tests/test_*; do
        [ -x "$t" ] || continue
        out=$(CK_DEFAULT_TIMEOUT=30 "$t" 2>&1)
        echo "$out" | grep -vE '^(Running suite|[0-9]+%: Checks)'
        checks=$(echo "$out" | sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p')
        if [ -z "$checks" ]; then
            result "unit $t" 1 "no Check summary (crashed?)"
            continue
        fi
        read -r n fails errors <<< "$checks"
        passed=$((passed + n - fails - errors))
        failed=$((failed + fails + errors))
        echo "# unit $t: $((n - fails - errors)) passed, $((fails + errors)) failed"
    done
}

integ_tests() { # BUILD
    local f out code oks bads sanlog
    sanlog=$(mktemp -d /tmp/careti-san.XXXXXX)
    for f in tests/integ/[0-9]*.sh; do
        out=$(BUILD=$1 SAN_LOG_DIR=$sanlog bash "$f" 2>&1)
        code=$?
        echo "$out" | sed "s|^ok - |ok - [$1] |; s|^not ok - |not ok - [$1] |"
        oks=$(echo "$out" | grep -c '^ok - ')
        bads=$(echo "$out" | grep -c '^not ok - ')
        passed=$((passed + oks))
        failed=$((failed + bads))
        if [ "$code" -ne 0 ] && [ "$bads" -eq 0 ]; then
            result "[$1] $f ran to the end" 1 "exit $code"
        fi
    done
    if [ -n "$(ls -A "$sanlog")" ]; then
        cat "$sanlog"/* | head -n 200
        result "[$1] no sanitizer or leak reports" 1 "see above"
    elif [ "$1" != build ]; then
        result "[$1] no sanitizer or leak reports" 0
    fi
    rm -rf "$sanlog"
}

$integ_only || static_checks
for b in "${builds[@]}"; do
    if [ ! -x "$b/caretid" ]; then
        result "build $b exists" 1 "run make check-build first"
        continue
    fi
    $integ_only || unit_tests "$b"
    integ_tests "$b"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
