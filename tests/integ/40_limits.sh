#!/usr/bin/env bash
# Bad clients get a clear answer and cannot hurt the others: malformed
# requests, oversized bodies, dribbled heads.
. "$(dirname "$0")/lib.sh"

write_config "$T/c.yaml" "daemon:" "  max_body_bytes: 1048576" "  header_timeout_s: 1"
check "daemon starts" start_daemon "$T/d" "$T/c.yaml"
S="$T/d/caretid.sock"

# A second client holds a keep-alive connection across the bad one.
exec 7> >("$RAW" -u "$S" -r 8 > "$T/held.out")
printf 'GET /careti/v1/health HTTP/1.1\r\nHost: x\r\n\r\n' >&7

out=$(printf 'GET /x HTTP/1.1\r\nHost x\r\n\r\n' | "$RAW" -u "$S")
expect_contains "malformed request gets 400" "$out" "HTTP/1.1 400 Bad Request"
expect_contains "400 says what was wrong" "$out" "malformed HTTP request"
expect_contains "400 closes the connection" "$out" "Connection: close"
out=$(printf 'GARBAGE\r\n\r\n' | "$RAW" -u "$S")
expect_contains "garbage gets 400" "$out" "HTTP/1.1 400"

printf 'GET /careti/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&7
exec 7>&-
for _ in $(seq 1 100); do grep -q '"requests_served"' "$T/held.out" 2>/dev/null && break; sleep 0.05; done
held=$(cat "$T/held.out")
expect_contains "the other client was served before" "$held" '{"status":"ok"}'
expect_contains "and after the malformed requests, on the same connection" "$held" '"requests_served"'

out=$(printf 'POST /careti/v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n' | "$RAW" -u "$S")
expect_contains "declared oversized body gets 413" "$out" "HTTP/1.1 413"
expect_contains "413 names the limit and key" "$out" "over the limit of 1048576 bytes (daemon.max_body_bytes)"

before=$(rss_kb "$DPID")
out=$( { printf 'POST /careti/v1/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
         for _ in $(seq 1 1024); do printf '10000\r\n'; head -c 65536 /dev/zero; printf '\r\n'; done
         printf '0\r\n\r\n'; } | "$RAW" -u "$S" -r 20)
after=$(rss_kb "$DPID")
expect_contains "64 MiB chunked body over a 1 MiB limit gets 413" "$out" "HTTP/1.1 413"
growth=$((after - before))
if [ "$growth" -lt 16384 ]; then ok "memory did not grow by the body size (grew ${growth} KiB)"
else not_ok "memory did not grow by the body size" "RSS grew ${growth} KiB"; fi

out=$(curl -s --unix-socket "$S" -H "Expect: 100-continue" --data-binary @<(head -c 2000000 /dev/zero) \
    http://x/careti/v1/reload)
expect_contains "curl with Expect: 100-continue gets the 413 before sending" "$out" "daemon.max_body_bytes"

start=$(date +%s%N)
out=$(printf 'GET /careti/v1/health HTTP/1.1\r\nHost: x\r\n\r\n' | "$RAW" -u "$S" -w 300 -r 10)
code=$?
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "a dribbling client is cut off (not timed out on our side)" "$code" 0
expect_contains "dribbling client gets 408" "$out" "HTTP/1.1 408"
if [ "$elapsed" -lt 5000 ]; then ok "dropped by the 1 s header timeout (${elapsed} ms)"
else not_ok "dropped by the header timeout" "took ${elapsed} ms"; fi

big=$(head -c 40000 /dev/zero | tr '\0' a)
out=$(printf 'GET / HTTP/1.1\r\nX-Big: %s\r\n\r\n' "$big" | "$RAW" -u "$S")
expect_contains "huge request head gets 431" "$out" "HTTP/1.1 431"

out=$(printf 'GET /nope\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | "$RAW" -u "$S")
expect_contains "a path that is not UTF-8 gets a 404 in valid JSON" "$out" 'no route for GET /nope??'
out=$(printf 'POST /careti/v1/status\xff HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' | "$RAW" -u "$S")
expect_contains "so does a wrong method on such a path" "$out" 'HTTP/1.1 404'

# Framing RFC 9112 says to refuse: a body a proxy in front would read
# another way must never be served.
framing() { printf 'POST /api/chat HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n%s' "$1" "$2" | "$RAW" -u "$S" -r 5; }
out=$(framing 'Transfer-Encoding : chunked' $'5\r\nhello\r\n0\r\n\r\n')
expect_contains "a space before a header's colon is 400" "$out" 'HTTP/1.1 400'
expect_contains "naming the header, in Ollama's dialect" "$out" '{"error":"invalid character 0x20 in header name \"Transfer-Encoding \""}'
out=$(framing 'Transfer-Encoding: gzip, chunked' $'5\r\nhello\r\n0\r\n\r\n')
expect_contains "an unknown transfer coding is 501" "$out" 'HTTP/1.1 501'
expect_contains "naming it and what to send" "$out" 'transfer coding \"gzip\" is not supported'
out=$(framing 'Transfer-Encoding: chunked' $'5\r\nhelloXX0\r\n\r\n')
expect_contains "chunk data without its CRLF is 400" "$out" 'HTTP/1.1 400'
expect_contains "saying the chunked body is malformed" "$out" 'malformed chunked request body'
out=$(framing 'Transfer-Encoding: chunked' $'fffffffffffffffffffff\r\n')
expect_contains "a chunk size that overflows names the chunk, not Content-Length" "$out" 'chunk size too large'
expect_not_contains "(no word of Content-Length)" "$out" 'content-length'
expect_eq "the daemon is still healthy" "$(curl -s --unix-socket "$S" http://x/careti/v1/health)" '{"status":"ok"}'
check "and stops with exit 0" stop_daemon "$DPID"

# A flood of refused connections is one log line a second, with a count.
write_config "$T/few.yaml" "daemon:" "  max_connections: 2"
check "a daemon with max_connections: 2 starts" start_daemon "$T/few" "$T/few.yaml"
node -e '
const net = require("net");
const path = process.argv[1];
let done = 0;
for (let i = 0; i < 400; i++) {
  const s = net.connect(path);
  s.on("error", () => {});
  s.on("close", () => { if (++done === 400) process.exit(0); });
  setTimeout(() => s.destroy(), 1500);
}' "$T/few/caretid.sock"
lines=$(grep -c "too many connections" "$T/few/log")
check "400 refused connections make a few log lines ($lines), not 400" test "$lines" -le 5
for _ in $(seq 1 40); do grep -q "more connections refused in the last second" "$T/few/log" && break; sleep 0.05; done
expect_contains "then how many more were refused" "$(cat "$T/few/log")" "more connections refused in the last second, for the same reasons"
check "it stops with exit 0" stop_daemon "$DPID"

finish
