#!/usr/bin/env bash
# The rooms of src/ and include/careti/, lowest first.  A file of a room
# may include its own room's headers and those of rooms on a lower floor,
# never a higher floor's, nor a sibling's on the same floor; a room's
# private headers (src/ROOM/*.h) stay in the room; and each library
# header is included only by the rooms that own that library.  Prints
# each include that breaks a rule and exits 1 if there is one.
set -u
cd "$(dirname "$0")/.."
floor_of() {
    case $1 in
        core) echo 0 ;;
        config) echo 1 ;;
        wire) echo 2 ;;
        upstream | http | store) echo 3 ;;
        models) echo 4 ;;
        agent) echo 5 ;;
        api) echo 6 ;;
        daemon) echo 7 ;;
        main | cli) echo 8 ;;
        *) echo -1 ;;
    esac
}
# library header -> the rooms that may include it
library_rooms() {
    case $1 in
        yaml.h) echo "config" ;;
        sqlite3.h) echo "store" ;;
        curl/curl.h) echo "upstream cli" ;;
        http_parser.h) echo "http upstream" ;;
        *) echo "*" ;;
    esac
}
# room_of PATH: the room a path of the tree belongs to, or "".
room_of() {
    case $1 in
        src/main.c) echo main ;;
        include/careti/*/*) local r=${1#include/careti/}; echo "${r%%/*}" ;;
        src/*/*) local r=${1#src/}; echo "${r%%/*}" ;;
        *) echo "" ;;
    esac
}
bad=0
complain() {
    echo "$1"
    bad=1
}
while IFS= read -r f; do
    room=$(room_of "$f")
    mine=$(floor_of "$room")
    if [ "$mine" -lt 0 ]; then
        complain "$f: room \"$room\" is not on the list in tests/check_rooms.sh"
        continue
    fi
    while IFS=$'\t' read -r line kind inc; do
        if [ "$kind" = '<' ]; then
            case $inc in
                careti/*) complain "$f:$line: <$inc>: include the project's headers with quotes" ;;
            esac
            allowed=$(library_rooms "$inc")
            if [ "$allowed" != "*" ] && [[ " $allowed " != *" $room "* ]]; then
                complain "$f:$line: <$inc> belongs to the $allowed room(s), not to $room"
            fi
            continue
        fi
        # A quoted include: the project's, by "careti/ROOM/x.h" or by a
        # path relative to the file; a bare name is the file's own room.
        case $inc in
            careti/*) target="include/$inc" ;;
            */*) target=$(realpath -m --relative-to=. "$(dirname "$f")/$inc") ;;
            *) target="$(dirname "$f")/$inc" ;;
        esac
        other=$(room_of "$target")
        if [ -z "$other" ]; then
            complain "$f:$line: \"$inc\" is outside the rooms"
            continue
        fi
        case $target in
            src/*)
                [ "$other" = "$room" ] ||
                    complain "$f:$line: \"$inc\" is private to the $other room"
                continue
                ;;
        esac
        theirs=$(floor_of "$other")
        if [ "$theirs" -lt 0 ] || [ "$theirs" -gt "$mine" ] ||
            { [ "$theirs" -eq "$mine" ] && [ "$other" != "$room" ]; }; then
            complain "$f:$line: $inc is the $other room's (floor $theirs), which the $room room (floor $mine) may not include"
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$f" |
        sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*([<"])([^">]*)[">].*/\1\t\2\t\3/')
done < <(find src include/careti -name '*.[ch]' | sort)
exit $bad
