#!/usr/bin/env bash
# caretictl talks only to its own user's daemon, and caretid binds only
# where no other user can swap the socket: another user who owns the
# socket's directory (/tmp/careti-UID), a directory open to others, a
# socket served by another uid, or a --socket path through another user's
# symlink or directory is refused before a byte of a prompt is sent.
# The other user is an unused uid (4242) played with setpriv, so the
# cases need root.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v setpriv > /dev/null; then
    echo "# socket trust tests need root and setpriv; skipped"
    finish
    exit
fi

EVIL=4242
VICTIM=4343
if getent passwd $EVIL $VICTIM > /dev/null; then
    echo "# uid $EVIL or $VICTIM is a real user here; socket trust tests skipped"
    finish
    exit
fi
EVIL_RUN=(setpriv --reuid=$EVIL --regid=$EVIL --clear-groups)
as_evil() { "${EVIL_RUN[@]}" "$@"; }
# Another user must reach the fake servers' directories: a traversable
# (not listable) directory of its own beside $T, and the default socket
# directory of an unused victim uid.
P=$(mktemp -d /tmp/careti-trust.XXXXXX)
chmod 711 "$P"
VDIR=/tmp/careti-$VICTIM
rm -rf "$VDIR"
trap 'cleanup; rm -rf "$P" "$VDIR"' EXIT

# fake_server SOCKET LOG [PREFIX...]: a stand-in for caretid that records
# every byte it receives in LOG and answers 200 "{}".  Sets FPID.
fake_server() {
    local sock=$1 log=$2 out="$2.out"
    shift 2
    # From /, which every uid may enter; exec keeps the pid for the checks.
    (cd / && exec "$@" node -e '
        const net = require("net"), fs = require("fs");
        const [sock, log] = process.argv.slice(1);
        fs.writeFileSync(log, "");
        net.createServer((c) => c.on("data", (d) => {
            fs.appendFileSync(log, d);
            c.end("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
                  "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
        })).listen(sock, () => console.log("listening"));
    ' "$sock" "$log") > "$out" 2>&1 &
    FPID=$!
    DAEMON_PIDS+=("$FPID")
    for _ in $(seq 1 200); do
        grep -q listening "$out" 2>/dev/null && return 0
        kill -0 "$FPID" 2>/dev/null || break
        sleep 0.05
    done
    echo "fake server on $sock did not start: $(cat "$out")" >&2
    return 1
}

# refused NAME LOG OUT CODE NEEDLE: caretictl exited 1 naming why, and
# the fake server received nothing.
refused() {
    expect_eq "$1: caretictl exits 1" "$4" 1
    expect_contains "$1: the refusal says why" "$3" "$5"
    expect_eq "$1: the server received nothing" "$(cat "$2")" ""
}

# 1. The attack of the issue: another user owns /tmp/careti-UID (no
# XDG_RUNTIME_DIR) and serves a fake daemon in it.
mkdir -m 711 "$VDIR"
chown $EVIL:$EVIL "$VDIR"
check "a fake server of uid $EVIL starts in /tmp/careti-$VICTIM" \
    fake_server "$VDIR/caretid.sock" "$VDIR/got" "${EVIL_RUN[@]}"
chmod 666 "$VDIR/caretid.sock"
as_victim() { (cd / && exec setpriv --reuid=$VICTIM --regid=$VICTIM --clear-groups "$@"); }
if as_victim test -x "$CARETICTL"; then
    out=$(as_victim env -u XDG_RUNTIME_DIR -u CARETI_SOCKET "$CARETICTL" ask -m m \
        "my secret prompt" 2>&1 < /dev/null)
    refused "another user's /tmp/careti-UID" "$VDIR/got" "$out" "$?" \
        "refusing $VDIR/caretid.sock: its directory $VDIR is owned by uid $EVIL, not you (uid $VICTIM)"
else
    echo "# uid $VICTIM cannot run $CARETICTL (a private checkout); /tmp/careti-UID case skipped"
fi

# 2. A socket directory of ours that anyone may write to: anyone could
# have put the socket there.
mkdir -m 777 "$T/open"
chmod 777 "$T/open"
check "a fake server starts in a 0777 directory" fake_server "$T/open/caretid.sock" "$T/open/got"
out=$("$CARETICTL" --socket "$T/open/caretid.sock" status 2>&1)
refused "a socket directory writable by others" "$T/open/got" "$out" "$?" \
    "its directory $T/open is writable by others (mode 0777)"

# 3. A socket in our own private directory, served by another uid: only
# the server's credentials (SO_PEERCRED) can tell.  The fake binds in its
# own directory; the socket is then moved into ours and made ours.
mkdir -m 700 "$P/evil" "$T/own"
chown $EVIL:$EVIL "$P/evil"
check "a fake server of uid $EVIL starts" fake_server "$P/evil/s.sock" "$P/evil/got" "${EVIL_RUN[@]}"
mv "$P/evil/s.sock" "$T/own/caretid.sock"
out=$("$CARETICTL" --socket "$T/own/caretid.sock" status 2>&1)
refused "a socket owned by uid $EVIL in our directory" "$P/evil/got" "$out" "$?" \
    "the socket is owned by uid $EVIL, not you (uid 0)"
chown 0:0 "$T/own/caretid.sock"
out=$("$CARETICTL" --socket "$T/own/caretid.sock" status 2>&1)
refused "a server of uid $EVIL (plain request)" "$P/evil/got" "$out" "$?" \
    "the process serving it (pid $FPID) runs as uid $EVIL, not you (uid 0)"
out=$(CARETI_SOCKET="$T/own/caretid.sock" "$CARETICTL" ask -m m "my secret prompt" 2>&1 < /dev/null)
refused "a server of uid $EVIL (streamed request)" "$P/evil/got" "$out" "$?" \
    "the process serving it (pid $FPID) runs as uid $EVIL"

# 4. Our own socket made writable by others.
mkdir -m 700 "$T/loose"
check "a fake server starts" fake_server "$T/loose/caretid.sock" "$T/loose/got"
chmod 666 "$T/loose/caretid.sock"
out=$("$CARETICTL" --socket "$T/loose/caretid.sock" status 2>&1)
refused "a socket writable by others" "$T/loose/got" "$out" "$?" \
    "the socket is writable by others (mode 0666)"

# 5. The daemon (bounded by timeout, so an unfixed one that starts fails
# rather than hangs): a --socket path through another user's symlink or
# directory, or through a directory anyone may write to, is refused; our
# own symlink is fine.
write_config "$T/c.yaml" "daemon:" "  log_level: info"
mkdir -m 700 "$T/real"
ln -s "$T/real" "$P/link"
chown -h $EVIL:$EVIL "$P/link"
out=$(timeout 20 $WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$P/link/caretid.sock" 2>&1)
expect_eq "caretid refuses a --socket through uid $EVIL's symlink" "$?" 1
expect_contains "the refusal names the link and its owner" "$out" \
    "$P/link is a symlink owned by uid $EVIL"

mkdir -m 755 "$P/evil/pub"
mkdir -m 700 "$P/evil/pub/mine"
out=$(timeout 20 $WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$P/evil/pub/mine/caretid.sock" 2>&1)
expect_eq "caretid refuses a --socket below uid $EVIL's directory" "$?" 1
expect_contains "the refusal names the directory and its owner" "$out" \
    "$P/evil is owned by uid $EVIL"

mkdir -m 777 "$T/shared"
chmod 777 "$T/shared"
out=$(timeout 20 $WRAPPER "$CARETID" -c "$T/c.yaml" --socket "$T/shared/mine/caretid.sock" 2>&1)
expect_eq "caretid refuses a --socket below a directory anyone may write to" "$?" 1
expect_contains "the refusal names the directory and its mode" "$out" \
    "directory $T/shared is writable by others (mode 0777) without the sticky bit"
check "and makes nothing in it" test ! -e "$T/shared/mine"

ln -s "$T/real" "$T/mylink"
check "caretid accepts a --socket through our own symlink" \
    start_daemon "$T/mylink" "$T/c.yaml"
S="$T/mylink/caretid.sock"
out=$("$CARETICTL" --socket "$S" status 2>&1)
expect_eq "caretictl status works through it" "$?" 0
expect_contains "status names the socket" "$out" "$S"
out=$("$CARETICTL" --socket "$S" sessions 2>&1)
expect_eq "a plain request works" "$?" 0
out=$("$CARETICTL" --socket "$S" ask -m nosuchmodel "hello" 2>&1 < /dev/null)
expect_contains "a streamed request reaches the daemon" "$out" "the daemon answered"

# 6. The daemon's own guard (peer uid on accept): another uid that
# reaches the socket is answered 403, whatever the modes.
chmod 711 "$T" "$T/real"
chmod 666 "$T/real/caretid.sock"
out=$(as_evil curl -s -i --unix-socket "$T/real/caretid.sock" http://x/careti/v1/status)
expect_contains "the daemon answers another uid 403" "$out" "HTTP/1.1 403"
chmod 700 "$T" "$T/real"
chmod 600 "$T/real/caretid.sock"
check "the daemon stops cleanly" stop_daemon "$DPID"

# 7. No daemon is still exit 3, not a refusal.
"$CARETICTL" --socket "$T/real/caretid.sock" status > /dev/null 2>&1
expect_eq "no daemon running is exit 3" "$?" 3

finish
