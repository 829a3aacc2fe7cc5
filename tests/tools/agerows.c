/*
 * agerows: move every row of a stopped caretid's request log DAYS days
 * into the past, so an integration test can see old rows pruned without
 * waiting for them to age.  Prints how many rows it moved.
 *
 *   agerows DB DAYS
 * Exit: 0 done, 1 the database could not be changed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

int
main(int argc, char **argv)
{
    char *end;
    long days = argc == 3 ? strtol(argv[2], &end, 10) : -1;
    if (argc != 3 || *end != '\0' || days < 0) {
        fprintf(stderr, "usage: agerows DB DAYS\n");
        return 2;
    }
    sqlite3 *db;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "UPDATE requests SET at = at - ?1 * 86400000", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, days);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "agerows: %s: %s\n", argv[1], sqlite3_errmsg(db));
        sqlite3_finalize(q);
        sqlite3_close(db);
        return 1;
    }
    printf("%lld\n", (long long)sqlite3_changes64(db));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}
