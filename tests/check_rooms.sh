#!/usr/bin/env bash
# The rooms of src/ and include/careti/, lowest first.  A file of a room
# may include its own room's headers and those of rooms on a lower floor,
# never a higher floor's, nor a sibling's on the same floor.  Prints each
# include that runs the wrong way and exits 1 if there is one.
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
bad=0
for f in src/*/*.c src/*/*.h include/careti/*/*.h src/main.c; do
    case $f in
        src/main.c) room=main ;;
        include/careti/*) room=${f#include/careti/}; room=${room%%/*} ;;
        *) room=${f#src/}; room=${room%%/*} ;;
    esac
    mine=$(floor_of "$room")
    if [ "$mine" -lt 0 ]; then
        echo "$f: room \"$room\" is not on the list in tests/check_rooms.sh"
        bad=1
        continue
    fi
    while IFS=: read -r line inc; do
        other=${inc#careti/}
        other=${other%%/*}
        theirs=$(floor_of "$other")
        if [ "$theirs" -lt 0 ] || [ "$theirs" -gt "$mine" ] ||
            { [ "$theirs" -eq "$mine" ] && [ "$other" != "$room" ]; }; then
            echo "$f:$line: $inc is the $other room's (floor $theirs), which the $room room (floor $mine) may not include"
            bad=1
        fi
    done < <(grep -n '^#include "careti/' "$f" | sed 's/^\([0-9]*\):#include "\(careti\/[^"]*\)".*/\1:\2/')
done
exit $bad
