# Shared helpers for integration tests: each test file sources this, runs
# the real caretid in a private temporary directory, and reports one
# "ok - NAME" or "not ok - NAME: why" line per check.  Never sleeps to
# wait for readiness: polls with a deadline and fails if the daemon dies.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
CARETID="$ROOT/$BUILD/caretid"
CARETICTL="$ROOT/$BUILD/caretictl"
RAW="$ROOT/$BUILD/tools/rawclient"
NOTIFY="$ROOT/$BUILD/tools/notifyrecv"
WRAPPER=${CARETID_WRAPPER:-}
T=$(mktemp -d /tmp/careti-integ.XXXXXX)
chmod 700 "$T"
PASSED=0
FAILED=0
DAEMON_PIDS=()
# Sanitizer reports go to files the runner collects, never lost in logs.
export ASAN_OPTIONS="${ASAN_OPTIONS:-log_path=${SAN_LOG_DIR:-$T}/asan:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-log_path=${SAN_LOG_DIR:-$T}/ubsan:print_stacktrace=1:halt_on_error=1}"
unset CARETI_SOCKET CARETI_CONFIG JOURNAL_STREAM NOTIFY_SOCKET LISTEN_FDS LISTEN_PID
# Agent state of every test daemon stays in its private directory.
export XDG_STATE_HOME="$T/state-home"

ok() { echo "ok - $1"; PASSED=$((PASSED + 1)); }
not_ok() { echo "not ok - $1: $2"; FAILED=$((FAILED + 1)); }

# check NAME COMMAND...: one result line from a command's exit status.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "command failed: $*"; fi
}

# expect_contains NAME HAYSTACK NEEDLE
expect_contains() {
    if [[ "$2" == *"$3"* ]]; then ok "$1"; else not_ok "$1" "expected \"$3\" in: ${2:0:400}"; fi
}

expect_eq() {
    if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "expected \"$3\", got \"$2\""; fi
}

cleanup() {
    local pid
    for pid in "${DAEMON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${DAEMON_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT

# write_config FILE [YAML...]: a config with loopback-only defaults.
write_config() {
    local f=$1
    shift
    printf '%s\n' "$@" > "$f"
}

# start_daemon DIR CONFIG [ARGS...]: start caretid with its socket in DIR
# (made 0700) and log in DIR/log; sets DPID.  Returns 1 if it does not
# answer on its socket within 20 s or exits.
start_daemon() {
    local dir=$1 config=$2
    shift 2
    mkdir -p -m 700 "$dir"
    $WRAPPER "$CARETID" -c "$config" --socket "$dir/caretid.sock" "$@" > "$dir/log" 2>&1 &
    DPID=$!
    DAEMON_PIDS+=("$DPID")
    wait_ready "$dir/caretid.sock" "$DPID"
}

wait_ready() {
    local sock=$1 pid=$2
    for _ in $(seq 1 400); do
        if curl -s -o /dev/null --max-time 1 --unix-socket "$sock" http://x/careti/v1/health; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# stop_daemon PID: SIGTERM and return its exit status.
stop_daemon() {
    kill -TERM "$1" 2>/dev/null
    wait "$1"
}

# tcp_port SOCKET: the port of the first TCP listener, from status.
tcp_port() {
    "$CARETICTL" --socket "$1" status | sed -n 's/^listen *tcp [^ ]*:\([0-9]*\).*/\1/p' | head -n1
}

# tcp_token SOCKET: the bearer token TCP clients send, from status.
tcp_token() {
    "$CARETICTL" --socket "$1" status --json | sed -n 's/.*"tcp_token": "\([0-9a-f]*\)".*/\1/p'
}

# wait_store_open SOCKET: poll status until the session database has
# opened (on a worker, after the socket answers; slower under valgrind),
# for at most 20 s.
wait_store_open() {
    for _ in $(seq 1 400); do
        [[ "$(curl -s --max-time 5 --unix-socket "$1" http://x/careti/v1/status)" != *"not open yet"* ]] && return 0
        sleep 0.05
    done
    return 1
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

finish() {
    echo "# $(basename "$0"): $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

EMU="$ROOT/tests/emu/emulator.mjs"
EMU_PIDS=()

# start_emu KIND NAME: start the scripted emulator of KIND; sets NAME_PORT.
start_emu() {
    local kind=$1 name=$2 out="$T/emu-$2.out"
    node "$EMU" "$kind" > "$out" 2>&1 &
    EMU_PIDS+=("$!")
    DAEMON_PIDS+=("$!")
    for _ in $(seq 1 200); do
        if grep -q '^port ' "$out" 2>/dev/null; then
            eval "${name}_PORT=$(awk '/^port/ {print $2}' "$out")"
            return 0
        fi
        sleep 0.05
    done
    echo "emulator $kind did not start: $(cat "$out")" >&2
    return 1
}

# emu PORT PATH [JSON]: talk to an emulator's control routes (JSON may be
# @FILE).  EMU_SCHEME=https for one serving TLS (its certificate is not
# checked here).
emu() {
    local url="${EMU_SCHEME:-http}://127.0.0.1:$1$2"
    if [ $# -ge 3 ]; then
        curl -sk -X POST "$url" -d "$3"
    else
        curl -sk "$url"
    fi
}

# emu_log_after_close PORT: the emulator's request log once a request's
# connection has closed (or after 2 s); sets LOG.
emu_log_after_close() {
    for _ in $(seq 1 40); do
        LOG=$(emu "$1" /_emu/log)
        [[ "$LOG" == *'"closed_at":1'* ]] && return 0
        sleep 0.05
    done
}

# api PATH JSON: POST to the daemon on $S; prints the body.
api() { curl -s -N --max-time 20 --unix-socket "$S" "http://x$1" -d "$2"; }
# api_status PATH JSON: prints the HTTP status, then the body.
api_status() { curl -s -N --max-time 20 --unix-socket "$S" -w '\n%{http_code}' "http://x$1" -d "$2"; }

expect_not_contains() {
    if [[ "$2" != *"$3"* ]]; then ok "$1"; else not_ok "$1" "did not expect \"$3\" in: ${2:0:400}"; fi
}

# start_agent_daemon: the scripted Ollama emulator (E_PORT) and a daemon
# whose default alias `coder` takes tools as text, with agent.max_steps
# 5, no sandbox and a 60 s approval timeout, its store open; sets S.
start_agent_daemon() {
    start_emu ollama E || return 1
    write_config "$T/c.yaml" "daemon:" "  state_dir: $T/state" \
        "providers:" "  - {name: emu, type: ollama, base_url: \"http://127.0.0.1:$E_PORT\"}" \
        "models:" "  coder: {provider: emu, model: \"qwen3-coder:30b\", tools: text}" \
        "defaults:" "  model: coder" \
        "agent:" "  max_steps: 5" "  sandbox: \"off\"" "  approval_timeout_s: 60"
    start_daemon "$T/d" "$T/c.yaml" || return 1
    S="$T/d/caretid.sock"
    wait_store_open "$S"
}
