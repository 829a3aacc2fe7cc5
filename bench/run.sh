#!/usr/bin/env bash
# bench/run.sh — the caretid benchmark (`make bench`; not part of `make check`).
#
# Puts one instant fake model server (bench/upstream.c) behind: nothing (direct),
# caretid over its Unix socket, caretid over loopback TCP, and a private Debian nginx
# (proxy_pass, proxy_buffering off), all in the same run, and drives each with
# bench/loadgen.c at 1, 64 and 512 concurrent keep-alive streams.  Measures the time to
# first body byte, chunks/s, the proxy's CPU time per chunk, and caretid's RSS idle and
# per open stream, for pass-through (Ollama client -> POST /api/chat -> Ollama provider)
# and translated streams (OpenAI client -> POST /v1/chat/completions, stream:true).
# Then the same server as an OpenAI-compatible one (SSE, chunked, as llama.cpp's
# server and LM Studio send it) at 1 and 64 streams: pass-through (OpenAI client ->
# "openai" provider) and translated (Ollama client -> "openai" provider).
# Prints the tables and writes them, with the machine and date, to docs/BENCHMARKS.md.
#
# Run from anywhere after `make all`.  Loopback and Unix sockets only; everything it
# starts lives in a private 0700 temp dir and is stopped on exit.
#
# Environment:
#   BENCH_DURATION  seconds per throughput scenario (default 3)
#   BENCH_REPEAT    rounds of the throughput scenarios, interleaved; each row
#                   reports the median round, and the targets against nginx
#                   are judged round by round (default 15: on a shared
#                   virtual machine a round can land in a slow spell, and
#                   9 rounds let two such spells decide a median)
#   BENCH_CHUNKS    NDJSON lines per upstream answer before the done line (default 32)
#   BENCH_SSE_CHUNKS     content events per OpenAI-compatible answer (default 16)
#   BENCH_SSE_REPEAT     rounds of the OpenAI-compatible scenarios (default 7)
#   BENCH_SSE_DURATION   seconds per OpenAI-compatible scenario (default 2)
#   BENCH_OUT       where to write the report (default docs/BENCHMARKS.md; "-" = don't)
#   BENCH_NO_NGINX  1 = skip nginx (and don't install it)
#   BENCH_PERF      1 = also profile caretid with `perf record` during one scenario
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DUR=${BENCH_DURATION:-3}
REPEAT=${BENCH_REPEAT:-15}
CHUNKS=${BENCH_CHUNKS:-32}
SSE_CHUNKS=${BENCH_SSE_CHUNKS:-16}
SSE_REPEAT=${BENCH_SSE_REPEAT:-7}
SSE_DUR=${BENCH_SSE_DURATION:-2}
# The targets are judged at 1 and 64 streams: the OpenAI-compatible rows
# run only those, to keep the whole run near a quarter of an hour.
SSE_CONCS=(1 64)
OUT=${BENCH_OUT:-docs/BENCHMARKS.md}
CONCS=(1 64 512)
HOLD_STREAMS=512
# Trickle for the RSS runs: 60 lines, one every 50 ms, so a stream stays open 3 s.
HOLD_N=60
HOLD_DELAY_MS=50
CC=${CC:-cc}
BIN=build/bench

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "$*"; exit 1; }

if [ ! -x build/caretid ] || [ ! -x build/caretictl ]; then die "build/caretid is missing: run 'make all' first"; fi

# ---------------------------------------------------------------- build the tools
mkdir -p "$BIN"
# Plain C on epoll: neither tool needs a library (BENCH_CFLAGS adds flags).
EXTRA_CFLAGS=${BENCH_CFLAGS:-}
for t in upstream loadgen; do
    if [ ! -x "$BIN/$t" ] || [ "bench/$t.c" -nt "$BIN/$t" ]; then
        log "building $BIN/$t"
        # shellcheck disable=SC2086
        $CC -O2 -g -std=gnu17 -Wall -Wextra $EXTRA_CFLAGS -o "$BIN/$t" "bench/$t.c"
    fi
done
# The memory floor links caretid's libraries, as caretid does.
if [ ! -x "$BIN/libfloor" ] || [ bench/libfloor.c -nt "$BIN/libfloor" ]; then
    log "building $BIN/libfloor"
    # shellcheck disable=SC2046
    $CC -O2 -g -std=gnu17 -Wall -Wextra -o "$BIN/libfloor" bench/libfloor.c \
        $(pkg-config --cflags --libs libuv jansson yaml-0.1 sqlite3) -lhttp_parser
fi

# ---------------------------------------------------------------- nginx
NGINX=""
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
find_nginx() {
    if command -v nginx >/dev/null 2>&1; then NGINX=$(command -v nginx)
    elif [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx
    else NGINX=""; fi
}
if [ "${BENCH_NO_NGINX:-0}" != 1 ]; then
    find_nginx
    if [ -z "$NGINX" ]; then
        log "installing Debian's nginx (apt-get install -y nginx)"
        # Keep the package from starting a system-wide nginx on port 80: a policy-rc.d
        # that forbids service starts, only for the install and only if none exists.
        made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d' && made_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get install -y nginx >&2 ||
            { $SUDO apt-get update >&2 && $SUDO apt-get install -y nginx >&2; } ||
            log "could not install nginx: its rows are left out"
        [ "$made_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
        find_nginx
    fi
fi

# ---------------------------------------------------------------- private dir, cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/caretid-bench.XXXXXX")
chmod 700 "$TMP"
PIDS=()   # everything we started, by pid
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_pid() {  # stop one process we started and forget it
    local p=$1 keep=() q
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]}")
}

kv() {  # kv FILE KEY -> value from a loadgen result line
    awk -v k="$2" '{for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) { print a[2]; exit } }}' "$1"
}
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon:/{print $2}' "/proc/$1/status"; }

wait_for() {  # wait_for SECONDS CMD... : poll until CMD succeeds
    local n=$(($1 * 20)); shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    return 1
}
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
up_stats() {  # "CONNECTIONS REQUESTS" the upstream has accepted / served so far
    local body
    exec 3<>"/dev/tcp/127.0.0.1/$UP_PORT" || { echo "0 0"; return; }
    printf 'GET /bench/stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    body=$(cat <&3)
    exec 3<&-
    body=$(sed -n 's/.*"connections":\([0-9]*\),"requests":\([0-9]*\).*/\1 \2/p' <<<"$body")
    echo "${body:-0 0}"
}

# ---------------------------------------------------------------- upstream
"$BIN/upstream" -n "$CHUNKS" -s "$SSE_CHUNKS" --port-file "$TMP/upstream.port" 2>"$TMP/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")
wait_for 5 test -s "$TMP/upstream.port" || die "the upstream did not start: $(cat "$TMP/upstream.log")"
UP_PORT=$(cat "$TMP/upstream.port")
log "upstream on 127.0.0.1:$UP_PORT (pid $UP_PID), $CHUNKS lines + done per Ollama answer, $SSE_CHUNKS content events per SSE answer"

# ---------------------------------------------------------------- caretid
# Clients over TCP send a bearer token, as they must (daemon.auth_token).
CD_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
cat >"$TMP/caretid.yaml" <<EOF
daemon:
  listen: ["127.0.0.1:0"]
  auth_token: "$CD_TOKEN"
  log_level: warn
  max_connections: 4096
  shutdown_grace_s: 1
  state_dir: $TMP/state
providers:
  - name: ollama
    type: ollama
    base_url: "http://127.0.0.1:$UP_PORT"
  - name: llamacpp
    type: openai
    base_url: "http://127.0.0.1:$UP_PORT"
EOF
CD_PID=""
CD_SOCK=""
CD_TCP=""
CD_N=0
start_caretid() {
    CD_N=$((CD_N + 1))
    local dir="$TMP/cd$CD_N"
    mkdir -m 700 "$dir"
    CD_SOCK="$dir/s.sock"
    build/caretid -c "$TMP/caretid.yaml" --socket "$CD_SOCK" 2>>"$TMP/caretid.log" &
    CD_PID=$!
    PIDS+=("$CD_PID")
    wait_for 10 build/caretictl --socket "$CD_SOCK" status ||
        die "caretid did not start: $(tail -5 "$TMP/caretid.log")"
    build/caretictl --socket "$CD_SOCK" --json status >"$dir/status.json"
    CD_TCP=$(tr -d ' \n' <"$dir/status.json" | grep -o '"address":"[^"]*"' | head -1 | cut -d'"' -f4)
    [ -n "$CD_TCP" ] || die "no TCP listener in caretictl status: $(cat "$dir/status.json")"
}

# ---------------------------------------------------------------- nginx
NG_PID=""
NG_ADDR=""
start_nginx() {
    local d="$TMP/nginx" port
    mkdir -p "$d"
    port=$("$BIN/upstream" --free-port)
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 1024;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
    "$NGINX" -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" 2>>"$d/stderr.log" &
    NG_PID=$!
    PIDS+=("$NG_PID")
    wait_for 10 tcp_open "$port" || { log "nginx did not start: $(tail -3 "$d/error.log" "$d/stderr.log" 2>&1)"; stop_pid "$NG_PID"; NG_PID=""; return 1; }
    NG_ADDR="127.0.0.1:$port"
}
nginx_pids() { local w; w=$(pgrep -P "$NG_PID" | paste -sd, -); echo "$NG_PID${w:+,$w}"; }

# ---------------------------------------------------------------- scenarios
BODY_OLLAMA='{"model":"bench:latest","messages":[{"role":"user","content":"hi"}]}'
BODY_OPENAI='{"model":"bench:latest","stream":true,"messages":[{"role":"user","content":"hi"}]}'
# The OpenAI-compatible model (the "llamacpp" provider lists it).
SSE_OPENAI='{"model":"bench-sse","stream":true,"messages":[{"role":"user","content":"hi"}]}'
SSE_OLLAMA='{"model":"bench-sse","messages":[{"role":"user","content":"hi"}]}'
HOLD="bench_n=$HOLD_N bench_delay_ms=$HOLD_DELAY_MS"
HOLD_OLLAMA="{\"model\":\"bench:latest\",\"messages\":[{\"role\":\"user\",\"content\":\"$HOLD\"}]}"
HOLD_OPENAI="{\"model\":\"bench:latest\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$HOLD\"}]}"
mkdir -p "$TMP/res"

# lg NAME TARGETARGS PATH BODY LOADARGS... -> $TMP/res/NAME (one key=value line)
lg() {
    local name=$1 target=$2 path=$3 body=$4; shift 4
    # shellcheck disable=SC2086
    "$BIN/loadgen" $target -p "$path" -b "$body" "$@" >"$TMP/res/$name" 2>"$TMP/res/$name.err" || true
    if [ ! -s "$TMP/res/$name" ]; then
        echo "errors=1 loadgen_failed=1" >"$TMP/res/$name"
    fi
    local e; e=$(kv "$TMP/res/$name" errors)
    log "$(printf '%-22s chunks/s %10s  ttfb p50 %9s us  p99 %9s us  errors %s' "$name" \
        "$(kv "$TMP/res/$name" chunks_per_s)" "$(kv "$TMP/res/$name" ttfb_p50_us)" \
        "$(kv "$TMP/res/$name" ttfb_p99_us)" "$e")"
    if [ "${e:-0}" != 0 ]; then sed 's/^/    /' "$TMP/res/$name.err" | head -5 >&2; fi
}

T0=$(date +%s)
LOAD_START=$(cut -d" " -f1 /proc/loadavg)
# CPU time the hypervisor gave to others (steal), over the whole run: on a
# shared virtual machine it is where much of the noise comes from.
cpu_jiffies() { awk '/^cpu /{ t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9 }' /proc/stat; }
read -r JIFFIES_START STEAL_START < <(cpu_jiffies)
awk -v l="$LOAD_START" -v n="$(nproc)" 'BEGIN { exit !(l > 0.5) }' &&
    log "warning: load average $LOAD_START before the run: other work on this machine skews the numbers"

# --- memory: a fresh daemon per dialect, idle, then 512 trickling streams held open
log "memory: caretid idle and with $HOLD_STREAMS open streams"
declare -A MEM
hold_run() {  # hold_run KEY PATH BODY
    start_caretid
    sleep 0.2
    MEM[$1.start]=$(rss_kb "$CD_PID")
    lg "$1-catalogue" "-u $CD_SOCK" /api/chat "$BODY_OLLAMA" -c 1 -n 1 -T 10
    sleep 0.1
    MEM[$1.idle]=$(rss_kb "$CD_PID")
    MEM[$1.idle_anon]=$(anon_kb "$CD_PID")
    lg "$1-hold" "-u $CD_SOCK" "$2" "$3" -c "$HOLD_STREAMS" -n 1 -T 30 -P "$CD_PID"
    MEM[$1.open]=$(kv "$TMP/res/$1-hold" rss_open_kb)
    MEM[$1.max_open]=$(kv "$TMP/res/$1-hold" max_open)
    MEM[$1.errors]=$(kv "$TMP/res/$1-hold" errors)
    sleep 0.2
    MEM[$1.after]=$(rss_kb "$CD_PID")
    stop_pid "$CD_PID"
}
# The floor: caretid's libraries loaded and initialised, nothing else.
mkdir -m 700 "$TMP/floor"
"$BIN/libfloor" "$TMP/floor" >"$TMP/floor/out" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
wait_for 5 grep -q ready "$TMP/floor/out" || die "libfloor did not start: $(cat "$TMP/floor/out")"
MEM[floor.idle]=$(rss_kb "$FLOOR_PID")
MEM[floor.idle_anon]=$(anon_kb "$FLOOR_PID")
stop_pid "$FLOOR_PID"
hold_run pass /api/chat "$HOLD_OLLAMA"
hold_run xlat /v1/chat/completions "$HOLD_OPENAI"
if [ -n "$NGINX" ] && start_nginx; then
    np=$(nginx_pids)
    lg nginx-first "-t $NG_ADDR" /api/chat "$BODY_OLLAMA" -c 1 -n 1 -T 10 -P "$np"
    MEM[nginx.idle]=$(kv "$TMP/res/nginx-first" rss_end_kb)
    lg nginx-hold "-t $NG_ADDR" /api/chat "$HOLD_OLLAMA" -c "$HOLD_STREAMS" -n 1 -T 30 -P "$np"
    MEM[nginx.open]=$(kv "$TMP/res/nginx-hold" rss_open_kb)
    MEM[nginx.max_open]=$(kv "$TMP/res/nginx-hold" max_open)
    MEM[nginx.errors]=$(kv "$TMP/res/nginx-hold" errors)
fi

# --- throughput and latency: one daemon for both dialects and both transports
start_caretid
sleep 0.2
log "caretid pid $CD_PID on $CD_SOCK and $CD_TCP; nginx ${NG_ADDR:-not run}"
declare -A TARGET PROC PATHOF BODYOF
ROWS=(direct nginx unix tcp unix-xlat tcp-xlat)
TARGET[direct]="-t 127.0.0.1:$UP_PORT";  PROC[direct]=""
TARGET[nginx]="-t $NG_ADDR";             PROC[nginx]="nginx"
TARGET[unix]="-u $CD_SOCK";              PROC[unix]="$CD_PID"
TARGET[tcp]="-t $CD_TCP -k $CD_TOKEN";   PROC[tcp]="$CD_PID"
TARGET[unix-xlat]="-u $CD_SOCK";         PROC[unix-xlat]="$CD_PID"
TARGET[tcp-xlat]="-t $CD_TCP -k $CD_TOKEN"; PROC[tcp-xlat]="$CD_PID"
for r in direct nginx unix tcp; do PATHOF[$r]=/api/chat; BODYOF[$r]=$BODY_OLLAMA; done
for r in unix-xlat tcp-xlat; do PATHOF[$r]=/v1/chat/completions; BODYOF[$r]=$BODY_OPENAI; done
[ -n "$NG_PID" ] || ROWS=(direct unix tcp unix-xlat tcp-xlat)
# The OpenAI-compatible upstream: the same server, the same proxies, the
# "llamacpp" provider behind caretid (over its Unix socket: the transport
# to the client is measured by the rows above).
SSE_ROWS=(sse-direct sse-nginx sse-unix sse-unix-xlat)
TARGET[sse-direct]=${TARGET[direct]};    PROC[sse-direct]=""
TARGET[sse-nginx]=${TARGET[nginx]};      PROC[sse-nginx]="nginx"
TARGET[sse-unix]=${TARGET[unix]};        PROC[sse-unix]="$CD_PID"
TARGET[sse-unix-xlat]=${TARGET[unix]};   PROC[sse-unix-xlat]="$CD_PID"
for r in sse-direct sse-nginx sse-unix; do PATHOF[$r]=/v1/chat/completions; BODYOF[$r]=$SSE_OPENAI; done
PATHOF[sse-unix-xlat]=/api/chat; BODYOF[sse-unix-xlat]=$SSE_OLLAMA
[ -n "$NG_PID" ] || SSE_ROWS=(sse-direct sse-unix sse-unix-xlat)

# warm up: the daemon fetches its catalogue on the first request; pools fill
lg warm-direct "${TARGET[direct]}" /api/chat "$BODY_OLLAMA" -c 64 -d 0.5
[ -n "$NG_PID" ] && lg warm-nginx "${TARGET[nginx]}" /api/chat "$BODY_OLLAMA" -c 512 -d 1
lg warm-caretid "${TARGET[unix]}" /api/chat "$BODY_OLLAMA" -c 64 -d 1
lg warm-caretid-xlat "${TARGET[unix]}" /v1/chat/completions "$BODY_OPENAI" -c 64 -d 0.5
lg warm-caretid-sse "${TARGET[unix]}" /v1/chat/completions "$SSE_OPENAI" -c 64 -d 0.5
lg warm-caretid-sse-xlat "${TARGET[unix]}" /api/chat "$SSE_OLLAMA" -c 64 -d 0.5
CD_RSS_BEFORE=$(rss_kb "$CD_PID")

PERF_TXT=""
declare -A UPC UPR   # upstream connections accepted / requests served, per row
# leg ROUND CONC ROW SECONDS: one load-generator run, into $TMP/res/ROW-cCONC-rROUND.
leg() {
    local round=$1 c=$2 r=$3 dur=$4 pids args c0 q0 c1 q1 perf_pid
    pids=${PROC[$r]}
    [ "$pids" = nginx ] && pids=$(nginx_pids)
    args=(-c "$c" -d "$dur" -A "$UP_PID")
    [ -n "$pids" ] && args+=(-P "$pids")
    read -r c0 q0 < <(up_stats)
    perf_pid=""
    if [ "${BENCH_PERF:-0}" = 1 ] && [ "$r" = unix ] && [ "$c" = 64 ] && [ "$round" = 1 ] &&
        command -v perf >/dev/null; then
        perf record -q -e cpu-clock -F 999 -p "$CD_PID" -o "$TMP/perf.data" -- sleep "$dur" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    lg "$r-c$c-r$round" "${TARGET[$r]}" "${PATHOF[$r]}" "${BODYOF[$r]}" "${args[@]}"
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" 2>/dev/null || true
        PERF_TXT=$( { perf report -i "$TMP/perf.data" --stdio --sort dso 2>/dev/null | grep -E "^ +[0-9]" | head -12; echo; perf report -i "$TMP/perf.data" --stdio --sort dso,sym --percent-limit 1 2>/dev/null | grep -E "^ +[0-9]" | sed 's/ *- *- *$//' | head -25; } || true)
    fi
    read -r c1 q1 < <(up_stats)
    # the second /bench/stats request is itself one connection and one request
    UPC[$r]=$(( ${UPC[$r]:-0} + c1 - c0 - 1 ))
    UPR[$r]=$(( ${UPR[$r]:-0} + q1 - q0 - 1 ))
}
# Rounds go through every row in turn, so drift on a shared machine (a
# neighbour's load, frequency changes) falls on all rows alike.
for round in $(seq 1 "$REPEAT"); do
    for c in "${CONCS[@]}"; do
        for r in "${ROWS[@]}"; do leg "$round" "$c" "$r" "$DUR"; done
    done
done
log "OpenAI-compatible upstream (SSE): $SSE_REPEAT rounds of ${SSE_DUR} s"
for round in $(seq 1 "$SSE_REPEAT"); do
    for c in "${SSE_CONCS[@]}"; do
        for r in "${SSE_ROWS[@]}"; do leg "$round" "$c" "$r" "$SSE_DUR"; done
    done
done
# One result per row and concurrency: each value is the median of the
# BENCH_REPEAT rounds, except errors, which add up.
median_runs() {  # median_runs OUT FILE...
    local out=$1; shift
    awk '
        BEGIN { CONVFMT = "%.10g" }
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1], FNR == 1 ? ++n[kv[1]] : 0] = kv[2]; if (!(kv[1] in seen)) { seen[kv[1]] = 1; order[++k] = kv[1] } } }
        END {
            line = ""
            for (j = 1; j <= k; j++) {
                key = order[j]; m = n[key]
                for (a = 1; a <= m; a++) x[a] = v[key, a] + 0
                if (key == "errors" || key ~ /^err_/ || key == "connect_retries" || key == "reconnects") {
                    s = 0; for (a = 1; a <= m; a++) s += x[a]; val = s
                } else {
                    for (a = 2; a <= m; a++) { t = x[a]; b = a - 1; while (b >= 1 && x[b] > t) { x[b + 1] = x[b]; b-- } x[b + 1] = t }
                    val = x[int((m + 1) / 2)]
                }
                line = line (j > 1 ? " " : "") key "=" val
            }
            print line
        }' "$@" >"$out"
}
for c in "${CONCS[@]}"; do
    for r in "${ROWS[@]}"; do
        median_runs "$TMP/res/$r-c$c" "$TMP/res/$r-c$c"-r*[0-9]
    done
done
for c in "${SSE_CONCS[@]}"; do
    for r in "${SSE_ROWS[@]}"; do
        median_runs "$TMP/res/$r-c$c" "$TMP/res/$r-c$c"-r*[0-9]
    done
done
CD_RSS_AFTER=$(rss_kb "$CD_PID")
CD_ANON_AFTER=$(anon_kb "$CD_PID")
T1=$(date +%s)
read -r JIFFIES_END STEAL_END < <(cpu_jiffies)
STEAL_PCT=$(awk -v t="$((JIFFIES_END - JIFFIES_START))" -v s="$((STEAL_END - STEAL_START))" 'BEGIN { if (t > 0) printf "%.1f", 100 * s / t; else print "-" }')

# ---------------------------------------------------------------- report
R="$TMP/res"
num() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { if (x == "" || x == "-") { print "-"; exit } printf "%.*f", d, x }'; }
kfmt() { awk -v x="$1" 'BEGIN { if (x == "") { print "-"; exit } if (x >= 1e6) printf "%.2fM", x / 1e6; else if (x >= 1e4) printf "%.0fk", x / 1e3; else if (x >= 1e3) printf "%.1fk", x / 1e3; else printf "%.0f", x }'; }
sub_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print ""; else print a - b }'; }
mib() { awk -v x="$1" 'BEGIN { if (x == "" || x == 0) print "-"; else printf "%.1f", x / 1024 }'; }
label() {
    case $1 in
    direct) echo "direct (no proxy)" ;;
    nginx) echo "nginx, TCP" ;;
    unix) echo "caretid, Unix socket" ;;
    tcp) echo "caretid, TCP" ;;
    unix-xlat) echo "caretid, Unix socket" ;;
    tcp-xlat) echo "caretid, TCP" ;;
    sse-*) label "${1#sse-}" ;;
    esac
}
mode() {
    case $1 in
    sse-*-xlat) echo "translated (Ollama client)" ;;
    sse-*) echo "pass-through (OpenAI client)" ;;
    *-xlat) echo "translated" ;;
    *) echo "pass-through" ;;
    esac
}
concs_of() { case $1 in sse-*) echo "${SSE_CONCS[@]}" ;; *) echo "${CONCS[@]}" ;; esac; }
errs() { local t=0 c e; for c in $(concs_of "$1"); do e=$(kv "$R/$1-c$c" errors); t=$((t + ${e:-0})); done; echo "$t"; }
per_answer() { awk -v c="${UPC[$1]:-}" -v q="${UPR[$1]:-}" 'BEGIN { if (c == "" || q + 0 <= 0) print "-"; else printf "%.3f", c / q }'; }

MACHINE_CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
MACHINE_MEM=$(awk '/^MemTotal:/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
NPROC=$(nproc)
KERNEL=$(uname -sr)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
CD_VERSION=$(build/caretid --version 2>&1 | head -1)
NG_VERSION=$([ -n "$NGINX" ] && "$NGINX" -v 2>&1 | sed 's/^nginx version: //' || echo "not run")

T="$TMP/report.md"
{
echo "# Benchmarks"
echo
echo "Generated by \`make bench\` (\`bench/run.sh\`); not part of \`make check\`.  Re-run it to"
echo "refresh this file.  Numbers are from one run on one machine: compare rows within"
echo "the run, not across machines."
echo
echo "- Date: $DATE"
echo "- Machine: $NPROC CPUs ($MACHINE_CPU), $MACHINE_MEM RAM, $KERNEL"
echo "- caretid: $CD_VERSION, commit $COMMIT; nginx: $NG_VERSION"
echo "- Run: ${DUR} s per scenario, median of $REPEAT interleaved rounds; $((T1 - T0)) s in all; 1-minute load average before it: $LOAD_START; CPU time stolen by the hypervisor during it: ${STEAL_PCT}%"
echo
echo "## Setup"
echo
echo "One fake Ollama server (\`bench/upstream.c\`, single-threaded epoll) answers every"
echo "\`POST /api/chat\` at once with $CHUNKS NDJSON lines plus the \`done\` line, each line its own"
echo "HTTP chunk, all in one write.  The same server, in the same run, is reached:"
echo
echo "- **direct**: no proxy, the floor for every other row;"
echo "- **nginx**: Debian's nginx, \`worker_processes 1\` (caretid is one event loop), \`proxy_pass\`"
echo "  to an upstream block with \`keepalive 1024\`, \`proxy_http_version 1.1\`, \`proxy_buffering off\`;"
echo "- **caretid** over its Unix socket and over a loopback TCP listener, with one \`ollama\` provider"
echo "  (and one \`openai\` provider on the same server, for the OpenAI-compatible rows below)."
echo "  Over TCP the load generator sends the bearer token that \`daemon.auth_token\` asks for."
echo
echo "*Pass-through* is an Ollama client calling \`POST /api/chat\` (caretid forwards the NDJSON"
echo "lines).  *Translated* is an OpenAI client calling \`POST /v1/chat/completions\` with"
echo "\`\"stream\":true\` for the same model (caretid turns NDJSON into SSE)."
echo
echo "\`bench/loadgen.c\` keeps C connections busy (closed loop, keep-alive) for ${DUR} s and checks"
echo "every answer: status 200, HTTP framing complete, last NDJSON line \`\"done\":true\` or last SSE"
echo "event \`data: [DONE]\`, no in-band error.  A *chunk* is an NDJSON line or an SSE data event"
echo "other than \`[DONE]\` (translated answers carry one more: the role/finish events).  TTFB is from"
echo "sending the request to the first body byte.  *Added* TTFB is the row's minus the direct"
echo "row's.  CPU time per chunk is the proxy's utime+stime (/proc/PID/stat, nginx: master +"
echo "worker) over the run divided by the chunks delivered.  Two CPUs are shared by the load"
echo "generator, the upstream and the proxy, so chunks/s at 64 and 512 streams is a saturation"
echo "figure; CPU per chunk is the steadier measure of cost.  *Upstream connections per answer* is"
echo "what the upstream counted: TCP connections it accepted over the requests it served (the"
echo "direct row opens one per load-generator connection; a proxy that reuses its upstream"
echo "connections is near 0)."
echo
echo "The targets against nginx are judged round by round: in each round caretid and nginx"
echo "ran one after the other against the same upstream, so each round gives one paired"
echo "difference per measure (added time to first byte p50 and p99 at one stream, CPU time"
echo "per chunk and chunks/s at 64 streams).  A target is met when the median of those"
echo "differences is on the target's side, or on it, for all four measures; the report says"
echo "in how many rounds caretid was on the wrong side."
echo
echo "The same server also answers \`POST /v1/chat/completions\` the way llama.cpp's server (and"
echo "LM Studio) stream: \`text/event-stream\`, chunked, a role event, $SSE_CHUNKS content events, a"
echo "finish event, a usage event when \`stream_options.include_usage\` is asked (caretid asks on"
echo "its clients' behalf), then \`data: [DONE]\`, each event its own HTTP chunk, all in one write."
echo "Those rows run $SSE_REPEAT rounds of ${SSE_DUR} s at 1 and 64 streams, after the rounds above."
echo
echo "## Latency and throughput"
echo
echo "| path | mode | TTFB p50 / p99 (µs), 1 stream | added p50 / p99 (µs) | chunks/s, 1 | 64 | 512 | proxy CPU µs/chunk (1 / 64 / 512) | upstream connections per answer | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
d50=$(kv "$R/direct-c1" ttfb_p50_us); d99=$(kv "$R/direct-c1" ttfb_p99_us)
for r in "${ROWS[@]}"; do
    f="$R/$r-c1"
    p50=$(kv "$f" ttfb_p50_us); p99=$(kv "$f" ttfb_p99_us)
    if [ "$r" = direct ]; then added="—"; else added="$(num "$(sub_ "$p50" "$d50")" 0) / $(num "$(sub_ "$p99" "$d99")" 0)"; fi
    if [ -z "${PROC[$r]}" ]; then cpu="—"; else
        cpu="$(num "$(kv "$R/$r-c1" cpu_us_per_chunk)" 2) / $(num "$(kv "$R/$r-c64" cpu_us_per_chunk)" 2) / $(num "$(kv "$R/$r-c512" cpu_us_per_chunk)" 2)"
    fi
    echo "| $(label "$r") | $(mode "$r") | $(num "$p50" 0) / $(num "$p99" 0) | $added | $(kfmt "$(kv "$R/$r-c1" chunks_per_s)") | $(kfmt "$(kv "$R/$r-c64" chunks_per_s)") | $(kfmt "$(kv "$R/$r-c512" chunks_per_s)") | $cpu | $(per_answer "$r") | $(errs "$r") |"
done
echo
echo "TTFB under load (closed loop, so it includes queueing behind the other streams):"
echo
echo "| path | mode | p50 / p99 (ms), 64 streams | p50 / p99 (ms), 512 streams | answers/s, 512 |"
echo "|---|---|---|---|---|"
for r in "${ROWS[@]}"; do
    a="$(num "$(awk -v x="$(kv "$R/$r-c64" ttfb_p50_us)" 'BEGIN{print x/1000}')" 2) / $(num "$(awk -v x="$(kv "$R/$r-c64" ttfb_p99_us)" 'BEGIN{print x/1000}')" 2)"
    b="$(num "$(awk -v x="$(kv "$R/$r-c512" ttfb_p50_us)" 'BEGIN{print x/1000}')" 1) / $(num "$(awk -v x="$(kv "$R/$r-c512" ttfb_p99_us)" 'BEGIN{print x/1000}')" 1)"
    echo "| $(label "$r") | $(mode "$r") | $a | $b | $(kfmt "$(kv "$R/$r-c512" req_per_s)") |"
done
echo
echo "## OpenAI-compatible upstream (SSE, chunked)"
echo
echo "*Pass-through*: an OpenAI client calling \`POST /v1/chat/completions\` (\`\"stream\":true\`)"
echo "for the \`openai\` provider's model: caretid checks each event and passes it on.  *Translated*:"
echo "an Ollama client calling \`POST /api/chat\` for that model: caretid turns SSE into NDJSON."
echo "Median of $SSE_REPEAT rounds of ${SSE_DUR} s; the direct and nginx rows ask for the same SSE answer."
echo
echo "| path | mode | TTFB p50 / p99 (µs), 1 stream | added p50 / p99 (µs) | chunks/s, 1 | 64 | proxy CPU µs/chunk (1 / 64) | TTFB p50 / p99 (ms), 64 streams | upstream connections per answer | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
s50=$(kv "$R/sse-direct-c1" ttfb_p50_us); s99=$(kv "$R/sse-direct-c1" ttfb_p99_us)
for r in "${SSE_ROWS[@]}"; do
    f="$R/$r-c1"
    p50=$(kv "$f" ttfb_p50_us); p99=$(kv "$f" ttfb_p99_us)
    if [ "$r" = sse-direct ]; then added="—"; else added="$(num "$(sub_ "$p50" "$s50")" 0) / $(num "$(sub_ "$p99" "$s99")" 0)"; fi
    if [ -z "${PROC[$r]}" ]; then cpu="—"; else
        cpu="$(num "$(kv "$R/$r-c1" cpu_us_per_chunk)" 2) / $(num "$(kv "$R/$r-c64" cpu_us_per_chunk)" 2)"
    fi
    load="$(num "$(awk -v x="$(kv "$R/$r-c64" ttfb_p50_us)" 'BEGIN{print x/1000}')" 2) / $(num "$(awk -v x="$(kv "$R/$r-c64" ttfb_p99_us)" 'BEGIN{print x/1000}')" 2)"
    echo "| $(label "$r") | $(mode "$r") | $(num "$p50" 0) / $(num "$p99" 0) | $added | $(kfmt "$(kv "$R/$r-c1" chunks_per_s)") | $(kfmt "$(kv "$R/$r-c64" chunks_per_s)") | $cpu | $load | $(per_answer "$r") | $(errs "$r") |"
done
echo
echo "## Memory"
echo
echo "VmRSS of a fresh caretid, idle after start and after the first request (which fetches"
echo "the catalogue), then with $HOLD_STREAMS streams held open at once (the upstream trickles"
echo "$HOLD_N lines $HOLD_DELAY_MS ms apart), over the Unix socket.  Per stream = (open − idle) / streams open."
echo "The floor row is a program that loads and initialises the libraries caretid links, and nothing else."
echo
echo "| process | mode | idle at start (MiB) | idle after catalogue (MiB) | of which anonymous (MiB) | with streams open (MiB) | streams open | per stream (KiB) | after they closed (MiB) | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in pass xlat; do
    per=$(awk -v o="${MEM[$m.open]}" -v i="${MEM[$m.idle]}" -v n="${MEM[$m.max_open]}" 'BEGIN { if (n > 0 && o > 0) printf "%.1f", (o - i) / n; else print "-" }')
    echo "| caretid | $([ $m = pass ] && echo pass-through || echo translated) | $(mib "${MEM[$m.start]}") | $(mib "${MEM[$m.idle]}") | $(mib "${MEM[$m.idle_anon]}") | $(mib "${MEM[$m.open]}") | ${MEM[$m.max_open]} | $per | $(mib "${MEM[$m.after]}") | ${MEM[$m.errors]} |"
done
if [ -n "${MEM[nginx.open]:-}" ]; then
    per=$(awk -v o="${MEM[nginx.open]}" -v i="${MEM[nginx.idle]}" -v n="${MEM[nginx.max_open]}" 'BEGIN { if (n > 0 && o > 0) printf "%.1f", (o - i) / n; else print "-" }')
    echo "| nginx (master + worker) | pass-through | - | $(mib "${MEM[nginx.idle]}") | - | $(mib "${MEM[nginx.open]}") | ${MEM[nginx.max_open]} | $per | - | ${MEM[nginx.errors]} |"
fi
echo "| floor: caretid's libraries, initialised (\`bench/libfloor.c\`) | - | $(mib "${MEM[floor.idle]}") | - | $(mib "${MEM[floor.idle_anon]}") | - | - | - | - | - |"
echo
echo "The throughput daemon's VmRSS: $(mib "$CD_RSS_BEFORE") MiB after the warm-up, $(mib "$CD_RSS_AFTER") MiB"
echo "($(mib "$CD_ANON_AFTER") MiB anonymous) after all the scenarios above."
echo
echo "## Against the targets"
echo
# verdicts
verdict() { if [ "$1" = 1 ]; then echo "**met**"; else echo "**not met**"; fi; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "" && b != "" && a + 0 <= b + 0) ? 1 : 0 }'; }
times() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.1f×", a / b }'; }
# paired MEASURE ROW FACTOR: caretid's ROW against nginx round by round,
# each pair measured within the same minute, so drift on a shared machine
# falls on both.  Per round, D is how far ROW is on the wrong side of the
# target (FACTOR times nginx; the direct row's TTFB cancels out):
#   add50, add99: (ROW - direct) - FACTOR x (nginx - direct), TTFB at 1 stream
#   cpu:          ROW - FACTOR x nginx, CPU time per chunk at 64 streams
#   thr:          nginx / FACTOR - ROW, chunks/s at 64 streams
# PREFIX ("" or "sse-") names the nginx and direct rows to pair with, and
# ROUNDS how many rounds they ran.
# Prints "MEDIAN_D ROUNDS_ON_THE_WRONG_SIDE ROUNDS".
paired() {
    local kind=$1 row=$2 f=$3 pre=${4:-} rounds=${5:-$REPEAT} round key conc
    case $kind in
    add50) key=ttfb_p50_us; conc=1 ;;
    add99) key=ttfb_p99_us; conc=1 ;;
    cpu) key=cpu_us_per_chunk; conc=64 ;;
    thr) key=chunks_per_s; conc=64 ;;
    esac
    for round in $(seq 1 "$rounds"); do
        awk -v k="$kind" -v f="$f" -v c="$(kv "$R/$row-c$conc-r$round" $key)" \
            -v n="$(kv "$R/${pre}nginx-c$conc-r$round" $key)" -v d="$(kv "$R/${pre}direct-c$conc-r$round" $key)" \
            'BEGIN { if (c == "" || n == "") exit
                     if (k == "cpu") print c - f * n; else if (k == "thr") print n / f - c
                     else print (c - d) - f * (n - d) }'
    done | sort -g | awk '{ v[NR] = $1; if ($1 > 0) w++ }
        END { if (NR == 0) { print "- 0 0"; exit }
              m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.4f %d %d\n", m, w, NR }'
}
# one_measure WHAT KIND ROW FACTOR UNIT DIGITS [PREFIX ROUNDS]: appends "WHAT
# W of N rounds, median D UNIT" to SUMMARY and clears ALL_MET unless the
# median is at most 0.
one_measure() {
    local med w n
    read -r med w n < <(paired "$2" "$3" "$4" "${7:-}" "${8:-$REPEAT}")
    awk -v m="$med" 'BEGIN { exit !(m != "-" && m + 0 <= 0) }' || ALL_MET=0
    SUMMARY+="${SUMMARY:+; }$1 $w of $n rounds, median $(num "$med" "$6") $5"
}
if [ -n "$NG_PID" ]; then
    n_add50=$(sub_ "$(kv "$R/nginx-c1" ttfb_p50_us)" "$d50"); n_add99=$(sub_ "$(kv "$R/nginx-c1" ttfb_p99_us)" "$d99")
    n_cpu=$(kv "$R/nginx-c64" cpu_us_per_chunk); n_thr=$(kv "$R/nginx-c64" chunks_per_s)
    for m in pass xlat; do
        if [ $m = pass ]; then r=unix; rt=tcp; factor=1; what="Pass-through overhead no worse than nginx's"; times_n=""; else r=unix-xlat; rt=tcp-xlat; factor=2; what="Translated within 2× nginx's"; times_n="2× "; fi
        best_add50=$(sub_ "$(kv "$R/$r-c1" ttfb_p50_us)" "$d50"); add99=$(sub_ "$(kv "$R/$r-c1" ttfb_p99_us)" "$d99")
        tcp_add50=$(sub_ "$(kv "$R/$rt-c1" ttfb_p50_us)" "$d50")
        cpu=$(kv "$R/$r-c64" cpu_us_per_chunk); thr=$(kv "$R/$r-c64" chunks_per_s)
        ALL_MET=1
        SUMMARY=""
        one_measure "added TTFB p50 above ${times_n}nginx's in" add50 "$r" $factor µs 0
        one_measure "p99 above in" add99 "$r" $factor µs 0
        one_measure "CPU per chunk above in" cpu "$r" $factor µs 2
        one_measure "chunks/s below in" thr "$r" $factor "chunks/s short" 0
        echo "- $what: $(verdict $ALL_MET).  Round by round: $SUMMARY.  Medians of the rounds: added TTFB p50 $(num "$best_add50" 0) µs over the Unix socket ($(num "$tcp_add50" 0) µs over TCP) vs nginx's $(num "$n_add50" 0) µs ($(times "$best_add50" "$n_add50")); p99 $(num "$add99" 0) vs $(num "$n_add99" 0) µs; CPU $(num "$cpu" 2) vs $(num "$n_cpu" 2) µs/chunk ($(times "$cpu" "$n_cpu")); $(kfmt "$thr") vs $(kfmt "$n_thr") chunks/s at 64 streams."
    done
    n_add50=$(sub_ "$(kv "$R/sse-nginx-c1" ttfb_p50_us)" "$s50"); n_add99=$(sub_ "$(kv "$R/sse-nginx-c1" ttfb_p99_us)" "$s99")
    n_cpu=$(kv "$R/sse-nginx-c64" cpu_us_per_chunk); n_thr=$(kv "$R/sse-nginx-c64" chunks_per_s)
    for r in sse-unix sse-unix-xlat; do
        if [ $r = sse-unix ]; then factor=1; what="OpenAI-compatible upstream (SSE), pass-through overhead no worse than nginx's"; times_n=""
        else factor=2; what="OpenAI-compatible upstream (SSE), translated for an Ollama client within 2× nginx's"; times_n="2× "; fi
        add50=$(sub_ "$(kv "$R/$r-c1" ttfb_p50_us)" "$s50"); add99=$(sub_ "$(kv "$R/$r-c1" ttfb_p99_us)" "$s99")
        cpu=$(kv "$R/$r-c64" cpu_us_per_chunk); thr=$(kv "$R/$r-c64" chunks_per_s)
        ALL_MET=1
        SUMMARY=""
        one_measure "added TTFB p50 above ${times_n}nginx's in" add50 "$r" $factor µs 0 sse- "$SSE_REPEAT"
        one_measure "p99 above in" add99 "$r" $factor µs 0 sse- "$SSE_REPEAT"
        one_measure "CPU per chunk above in" cpu "$r" $factor µs 2 sse- "$SSE_REPEAT"
        one_measure "chunks/s below in" thr "$r" $factor "chunks/s short" 0 sse- "$SSE_REPEAT"
        echo "- $what: $(verdict $ALL_MET).  Round by round: $SUMMARY.  Medians of the rounds: added TTFB p50 $(num "$add50" 0) vs nginx's $(num "$n_add50" 0) µs ($(times "$add50" "$n_add50")); p99 $(num "$add99" 0) vs $(num "$n_add99" 0) µs; CPU $(num "$cpu" 2) vs $(num "$n_cpu" 2) µs/chunk ($(times "$cpu" "$n_cpu")); $(kfmt "$thr") vs $(kfmt "$n_thr") chunks/s at 64 streams."
    done
else
    echo "- Overhead against nginx: not measured (nginx was not available)."
fi
idle=${MEM[pass.idle]}
echo "- Idle RSS ≤ 8 MiB: $(verdict "$(le "$idle" 8192)") — $(mib "$idle") MiB VmRSS after the catalogue fetch, of which $(mib "${MEM[pass.idle_anon]}") MiB anonymous (the rest is file-backed: mapped shared libraries).  A program that only loads and initialises the same libraries (libuv, jansson, libyaml, SQLite, http-parser; libcurl is loaded only for https:// servers) is at $(mib "${MEM[floor.idle]}") MiB: $(awk -v i="$idle" -v f="${MEM[floor.idle]}" 'BEGIN { if (f > 0) printf "%.1f", (i - f) / 1024; else print "-" }') MiB is caretid's own."
e512=0
for r in "${ROWS[@]}"; do
    if [ "${PROC[$r]}" = "$CD_PID" ]; then e=$(kv "$R/$r-c512" errors); e512=$((e512 + ${e:-1})); fi
done
e512=$((e512 + ${MEM[pass.errors]:-1} + ${MEM[xlat.errors]:-1}))
all_open=$([ "${MEM[pass.max_open]}" = "$HOLD_STREAMS" ] && [ "${MEM[xlat.max_open]}" = "$HOLD_STREAMS" ] && echo 1 || echo 0)
echo "- $HOLD_STREAMS concurrent streams without errors: $(verdict "$([ "$e512" = 0 ] && echo "$all_open" || echo 0)") — $e512 errors in caretid's 512-stream runs; ${MEM[pass.max_open]} / ${MEM[xlat.max_open]} streams open at once in the pass-through / translated hold runs."
r512u=$(kv "$R/unix-c512" connect_retries)
[ "${r512u:-0}" != 0 ] && echo "  Over the Unix socket the load generator had to retry ${r512u} connects (listen backlog full, EAGAIN) in the 512-stream pass-through run."
# Observations the numbers themselves point at (printed only when they hold).
OBS=()
cpa=$(per_answer unix); npa=$(per_answer nginx)
if awk -v x="$cpa" 'BEGIN { exit !(x != "-" && x + 0 > 0.5) }'; then
    OBS+=("caretid opened $cpa new upstream connections per answer (nginx: $npa): its connections to the provider are not being reused, so every request pays a TCP connect and close on top of the relay.")
fi
ta=$(sub_ "$(kv "$R/tcp-c1" ttfb_p50_us)" "$d50"); ua=$(sub_ "$(kv "$R/unix-c1" ttfb_p50_us)" "$d50")
if awk -v t="$ta" -v u="$ua" 'BEGIN { exit !(t != "" && u != "" && t - u > 20000) }'; then
    OBS+=("Over TCP caretid adds $(num "$(sub_ "$ta" "$ua")" 0) µs more than over its Unix socket to the first byte of a lone stream: about the 40 ms of Nagle's algorithm holding the first body write until the client's delayed ACK (the accepted TCP connections do not get TCP_NODELAY).")
fi
busy=$(awk -v c="$(kv "$R/unix-c1" cpu_s)" -v s="$(kv "$R/unix-c1" secs)" 'BEGIN { if (s + 0 > 0) printf "%.0f", 100 * c / s; else print "" }')
if awk -v u="$ua" -v n="${n_add50:-}" -v b="$busy" 'BEGIN { exit !(u != "" && n != "" && b != "" && u > 5 * n && b < 50) }'; then
    OBS+=("At one stream over the Unix socket caretid adds $(num "$ua" 0) µs to the first byte, yet its CPU was busy only ${busy}% of that run: most of the added time is spent waiting (a timer or a round trip per request), not computing.")
fi
if [ ${#OBS[@]} -gt 0 ]; then
    echo
    echo "## Observations"
    echo
    for o in "${OBS[@]}"; do echo "- $o"; done
fi
if [ -n "$PERF_TXT" ]; then
    echo
    echo "## Profile (BENCH_PERF=1): caretid, pass-through, Unix socket, 64 streams"
    echo
    echo '```'
    echo "$PERF_TXT"
    echo '```'
fi
} >"$T"

echo
cat "$T"
if [ "$OUT" != "-" ]; then
    mkdir -p "$(dirname "$OUT")"
    cp "$T" "$OUT"
    log "wrote $OUT"
fi
