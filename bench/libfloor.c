/*
 * libfloor: the resident-memory floor under caretid.  It links the same
 * shared libraries, initialises each the way the daemon does at start
 * (an event loop, an SQLite database, a YAML parser, a JSON value, an
 * HTTP parser), then waits.  libcurl is not among them: caretid loads it
 * only for https:// servers, which the benchmark does not use.  bench/run.sh reads
 * its VmRSS next to an idle caretid's: what is above the floor is
 * caretid's own.
 *
 * usage: libfloor DIR   (the SQLite database goes in DIR; prints "ready")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_parser.h>
#include <jansson.h>
#include <sqlite3.h>
#include <uv.h>
#include <yaml.h>

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: libfloor DIR\n");
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[4096];
    snprintf(path, sizeof path, "%s/floor.db", argv[1]);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(x)", NULL, NULL,
                     NULL) != SQLITE_OK) {
        fprintf(stderr, "libfloor: sqlite: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    yaml_parser_t yp;
    yaml_parser_initialize(&yp);
    json_t *j = json_pack("{s:s}", "floor", "yes");
    http_parser hp;
    http_parser_init(&hp, HTTP_REQUEST);
    printf("ready\n");
    fflush(stdout);
    pause();
    json_decref(j);
    yaml_parser_delete(&yp);
    sqlite3_close(db);
    uv_loop_close(&loop);
    return 0;
}
