/*
 * corruptdb: damage one table of a stopped caretid's database the way a
 * bad disk or a stray write would, so tests can see what the daemon makes
 * of it.  Overwrites the b-tree header of TABLE's root page with bytes no
 * page type has; the file's own header stays valid.  Prints the page.
 *
 *   corruptdb DB TABLE
 * Exit: 0 done, 1 the database could not be read or written, 2 usage.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: corruptdb DB TABLE\n");
        return 2;
    }
    sqlite3 *db;
    sqlite3_stmt *q = NULL;
    long long page = 0, page_size = 0;
    /* Checkpoint first: the page must be in the file, not in the WAL. */
    int rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT rootpage, (SELECT page_size FROM pragma_page_size())"
                                " FROM sqlite_schema WHERE name = ?1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, argv[2], -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            page = sqlite3_column_int64(q, 0);
            page_size = sqlite3_column_int64(q, 1);
        }
        rc = sqlite3_finalize(q);
    }
    if (rc != SQLITE_OK || page < 2) {
        fprintf(stderr, "corruptdb: %s: %s\n", argv[1],
                rc != SQLITE_OK ? sqlite3_errmsg(db) : "no such table");
        sqlite3_close(db);
        return 1;
    }
    sqlite3_close(db);
    unsigned char junk[16];
    memset(junk, 0xA5, sizeof junk);
    int fd = open(argv[1], O_WRONLY);
    if (fd < 0 || pwrite(fd, junk, sizeof junk, (off_t)((page - 1) * page_size)) !=
                      (ssize_t)sizeof junk) {
        perror("corruptdb");
        return 1;
    }
    close(fd);
    printf("%lld\n", page);
    return 0;
}
