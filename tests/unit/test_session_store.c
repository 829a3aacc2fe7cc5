/* Unit tests for src/store/session_store.c: migration from the previous schema
 * version, and the store's operations through its real thread-pool queue. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/store/session_store.c"

static uv_loop_t loop;
static char dir[64];
static json_t *last;
static struct cerr last_err;
static int calls;

static void
on_result(json_t *result, const struct cerr *err, void *arg)
{
    (void)arg;
    json_decref(last);
    last = result;
    last_err = err ? *err : (struct cerr){0};
    calls++;
}

/* Run the loop until the store has answered one more call. */
static void
wait_result(void)
{
    int before = calls;
    while (calls == before)
        uv_run(&loop, UV_RUN_ONCE);
}

static void
setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/careti-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    uv_loop_init(&loop);
    last = NULL;
    calls = 0;
}

static void
teardown(void)
{
    json_decref(last);
    last = NULL;
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s/careti.db", dir);
    unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/careti.db-wal", dir);
    unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/careti.db-shm", dir);
    unlink(cmd);
    rmdir(dir);
}

static void
close_store(struct store *st)
{
    store_close(st, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
}

START_TEST(test_migrates_from_version_1)
{
    /* A database as the previous version of caretid left it. */
    char path[96];
    snprintf(path, sizeof path, "%s/careti.db", dir);
    sqlite3 *db;
    struct cerr err = {0};
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(migrate(db, 1, &err), 0);
    ck_assert_int_eq(sqlite3_exec(db,
                                  "INSERT INTO sessions(id, title, created_at, updated_at) VALUES "
                                  "('abcd1234', 'old', 1, 1);"
                                  "INSERT INTO messages(session_id, seq, role, content, "
                                  "created_at, completion_tokens) VALUES ('abcd1234', 1, 'user', "
                                  "'the zeppelin question', 1, NULL), ('abcd1234', 2, "
                                  "'assistant', 'an answer', 2, 7);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    ck_assert_msg(last_err.code == 0, "%s", last_err.msg);
    ck_assert_int_eq(json_integer_value(json_object_get(last, "schema_version")),
                     STORE_SCHEMA_VERSION);
    store_list_sessions(st, "zeppelin", 10, on_result, NULL);
    wait_result();
    json_t *found = json_array_get(json_object_get(last, "sessions"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(found, "id")), "abcd1234");
    store_get_session(st, "abcd", true, on_result, NULL);
    wait_result();
    json_t *msgs = json_object_get(last, "messages");
    /* tokens backfilled: the server's count where known, else estimated */
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(msgs, 1), "tokens")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(msgs, 0), "tokens")), 6);
    close_store(st);
}
END_TEST

START_TEST(test_refuses_a_newer_schema)
{
    char path[96];
    snprintf(path, sizeof path, "%s/careti.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    ck_assert_ptr_nonnull(strstr(last_err.msg, "newer than this caretid"));
    ck_assert(!store_ready(st));
    store_list_sessions(st, NULL, 10, on_result, NULL);
    wait_result();
    ck_assert_int_eq(last_err.http_status, 503);
    close_store(st);
}
END_TEST

START_TEST(test_sessions_and_messages)
{
    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    json_t *fields = json_pack("{s:s, s:{s:i}}", "model", "coder", "settings", "context_length", 8192);
    store_create_session(st, fields, on_result, NULL);
    json_decref(fields);
    wait_result();
    char id[16];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(last, "id")));
    ck_assert_uint_eq(strlen(id), 8);
    json_t *m = json_pack("{s:s, s:s}", "role", "user", "content", "Fix the\nparser bug");
    store_add_message(st, id, m, on_result, NULL);
    json_decref(m);
    wait_result();
    ck_assert_int_eq(json_integer_value(json_object_get(last, "seq")), 1);
    m = json_pack("{s:s, s:s, s:s}", "role", "assistant", "content", "", "status", "streaming");
    store_add_message(st, id, m, on_result, NULL);
    json_decref(m);
    wait_result();
    int64_t aid = json_integer_value(json_object_get(last, "id"));
    json_t *f = json_pack("{s:s, s:s, s:i, s:i, s:I}", "content", "Done.", "status", "complete",
                          "prompt_tokens", 30, "completion_tokens", 4, "duration_ms",
                          (json_int_t)250);
    store_update_message(st, aid, f, on_result, NULL);
    json_decref(f);
    wait_result();
    ck_assert_msg(last_err.code == 0, "%s", last_err.msg);
    store_get_session(st, id, true, on_result, NULL);
    wait_result();
    ck_assert_str_eq(json_string_value(json_object_get(last, "title")), "Fix the parser bug");
    json_t *totals = json_object_get(last, "totals");
    ck_assert_int_eq(json_integer_value(json_object_get(totals, "prompt_tokens")), 30);
    ck_assert_int_eq(json_integer_value(json_object_get(totals, "completion_tokens")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(totals, "messages")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(last, "messages"), 1), "content")),
                     "Done.");
    /* Search syntax from users is taken literally. */
    store_list_sessions(st, "parser \"bug", 10, on_result, NULL);
    wait_result();
    ck_assert_msg(last_err.code == 0, "%s", last_err.msg);
    store_get_session(st, "zz", false, on_result, NULL);
    wait_result();
    ck_assert_int_eq(last_err.http_status, 404);
    store_delete_session(st, id, on_result, NULL);
    wait_result();
    store_get_session(st, id, false, on_result, NULL);
    wait_result();
    ck_assert_int_eq(last_err.http_status, 404);
    close_store(st);
}
END_TEST

/* A batch larger than one INSERT statement's rows, with a remainder: every
 * record is kept once, with its own values, and the window excludes older
 * ones. */
START_TEST(test_request_log_keeps_every_record_of_a_batch)
{
    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    enum { N = 3 * REQUESTS_PER_INSERT + 3, OLD = 2 };
    struct store_request *recs = xcalloc(N, sizeof *recs);
    for (int i = 0; i < N; i++) {
        recs[i] = (struct store_request){
            .at_ms = i < OLD ? 1000 : 5000 + i,
            .status = i % 5 == 0 ? 404 : 200,
            .ttft_ms = i,
            .tokens_per_s = i % 2 ? 10.0 * i : -1,
            .prompt_tokens = i,
            .completion_tokens = 2 * i,
            .duration_ms = 100 + i,
        };
        store_request_set_names(&recs[i], "ollama", i % 3 ? "coder" : "chat",
                                i % 5 == 0 ? "model_not_found" : NULL);
    }
    store_add_requests_take(st, recs, N, 0, on_result, NULL);
    wait_result();
    ck_assert_msg(last_err.code == 0, "%s", last_err.msg);
    ck_assert_int_eq(json_integer_value(json_object_get(last, "recorded")), N);
    store_request_stats(st, 5000, on_result, NULL);
    wait_result();
    json_t *models = json_object_get(last, "models");
    ck_assert_uint_eq(json_array_size(models), 2);
    long requests = 0, errors = 0, prompt = 0, completion = 0, want_errors = 0, want_prompt = 0;
    for (int i = OLD; i < N; i++) {
        want_errors += i % 5 == 0;
        want_prompt += i;
    }
    for (size_t k = 0; k < json_array_size(models); k++) {
        json_t *m = json_array_get(models, k);
        requests += json_integer_value(json_object_get(m, "requests"));
        errors += json_integer_value(json_object_get(m, "errors"));
        prompt += json_integer_value(json_object_get(m, "prompt_tokens"));
        completion += json_integer_value(json_object_get(m, "completion_tokens"));
    }
    ck_assert_int_eq(requests, N - OLD);
    ck_assert_int_eq(errors, want_errors);
    ck_assert_int_eq(prompt, want_prompt);
    ck_assert_int_eq(completion, 2 * want_prompt);
    /* "chat" holds i = 3, 6, ... N-1 (multiples of 3 from OLD on): the
     * median time to first token is the middle one of those. */
    json_t *chat = json_array_get(models, 0);
    ck_assert_str_eq(json_string_value(json_object_get(chat, "model")), "chat");
    int chat_n = 0, chat_ttft[N];
    for (int i = OLD; i < N; i++)
        if (i % 3 == 0)
            chat_ttft[chat_n++] = i;
    double want_median = chat_n % 2 ? chat_ttft[chat_n / 2]
                                    : (chat_ttft[chat_n / 2 - 1] + chat_ttft[chat_n / 2]) / 2.0;
    ck_assert_double_eq_tol(json_real_value(json_object_get(chat, "median_ttft_ms")), want_median,
                            1e-9);
    close_store(st);
}
END_TEST

/* N records of MODEL that ended at AT_MS, written with PRUNE_BEFORE_MS. */
static void
add_requests_at(struct store *st, int n, const char *model, int64_t at_ms, int64_t prune_before_ms)
{
    struct store_request *recs = xcalloc((size_t)n, sizeof *recs);
    for (int i = 0; i < n; i++) {
        recs[i] = (struct store_request){.at_ms = at_ms + i, .status = 200, .duration_ms = 1,
                                         .ttft_ms = -1, .tokens_per_s = -1,
                                         .prompt_tokens = -1, .completion_tokens = -1};
        store_request_set_names(&recs[i], "ollama", model, NULL);
    }
    store_add_requests_take(st, recs, (size_t)n, prune_before_ms, on_result, NULL);
    wait_result();
    ck_assert_msg(last_err.code == 0, "%s", last_err.msg);
    ck_assert_int_eq(json_integer_value(json_object_get(last, "recorded")), n);
}

static long
requests_of(const char *model)
{
    json_t *models = json_object_get(last, "models");
    for (size_t k = 0; k < json_array_size(models); k++) {
        json_t *m = json_array_get(models, k);
        if (strcmp(json_string_value(json_object_get(m, "model")), model) == 0)
            return (long)json_integer_value(json_object_get(m, "requests"));
    }
    return 0;
}

/* A write with a cutoff deletes exactly the rows that ended before it, in
 * the same transaction; without one, nothing is deleted. */
START_TEST(test_request_log_prunes_rows_before_the_cutoff)
{
    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    add_requests_at(st, 5, "old", 1000, 0);
    add_requests_at(st, 3, "edge", 2000, 0);
    add_requests_at(st, 2, "new", 3000, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(last, "pruned")), 0);
    add_requests_at(st, 1, "now", 4000, 2001); /* edge's 2000 goes, its 2001 stays */
    ck_assert_int_eq(json_integer_value(json_object_get(last, "pruned")), 5 + 1);
    store_request_stats(st, 0, on_result, NULL);
    wait_result();
    ck_assert_int_eq(requests_of("old"), 0);
    ck_assert_int_eq(requests_of("edge"), 2);
    ck_assert_int_eq(requests_of("new"), 2);
    ck_assert_int_eq(requests_of("now"), 1);
    close_store(st);
}
END_TEST

/* A prune that fails takes its batch with it: the error names the prune,
 * and neither the new rows nor any deletion is half-written. */
START_TEST(test_failed_prune_rolls_back_its_batch)
{
    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    add_requests_at(st, 2, "old", 1000, 0);
    ck_assert_int_eq(sqlite3_exec(st->db,
                                  "CREATE TRIGGER keep BEFORE DELETE ON requests"
                                  " BEGIN SELECT RAISE(ABORT, 'kept'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct store_request *recs = xcalloc(1, sizeof *recs);
    recs[0] = (struct store_request){.at_ms = 5000, .status = 200, .duration_ms = 1,
                                     .ttft_ms = -1, .tokens_per_s = -1, .prompt_tokens = -1,
                                     .completion_tokens = -1};
    store_request_set_names(&recs[0], "ollama", "new", NULL);
    store_add_requests_take(st, recs, 1, 2000, on_result, NULL);
    wait_result();
    ck_assert_ptr_nonnull(strstr(last_err.msg, "pruning the request log failed"));
    ck_assert_ptr_nonnull(strstr(last_err.msg, "kept"));
    store_request_stats(st, 0, on_result, NULL);
    wait_result();
    ck_assert_int_eq(requests_of("old"), 2);
    ck_assert_int_eq(requests_of("new"), 0);
    close_store(st);
}
END_TEST

START_TEST(test_streaming_replies_are_recovered_as_interrupted)
{
    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    json_t *empty = json_object();
    store_create_session(st, empty, on_result, NULL);
    json_decref(empty);
    wait_result();
    char id[16];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(last, "id")));
    /* 15 bytes, 9 characters: the estimate is one token per 4 bytes, as
     * for every other reply, and as the context window counts it. */
    json_t *m = json_pack("{s:s, s:s, s:s}", "role", "assistant", "content",
                          "\xc5\xbc\xc3\xb3\xc5\x82w \xc5\xbc\xc3\xb3\xc5\x82w", "status",
                          "streaming");
    store_add_message(st, id, m, on_result, NULL);
    json_decref(m);
    wait_result();
    close_store(st);
    st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    ck_assert_int_eq(json_integer_value(json_object_get(last, "recovered")), 1);
    store_get_session(st, id, true, on_result, NULL);
    wait_result();
    json_t *msg = json_array_get(json_object_get(last, "messages"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(msg, "status")), "interrupted");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")),
                     "\xc5\xbc\xc3\xb3\xc5\x82w \xc5\xbc\xc3\xb3\xc5\x82w");
    ck_assert_int_eq(json_integer_value(json_object_get(msg, "tokens")), (15 + 3) / 4);
    close_store(st);
}
END_TEST

/* A store in DIR holding one session; its id in ID. */
static struct store *
store_with_session(char *id, size_t len)
{
    struct store *st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    ck_assert_msg(last_err.code == 0, "%s", last_err.msg);
    json_t *fields = json_pack("{s:s}", "title", "kept");
    store_create_session(st, fields, on_result, NULL);
    json_decref(fields);
    wait_result();
    snprintf(id, len, "%s", json_string_value(json_object_get(last, "id")));
    return st;
}

/* Overwrite the b-tree header of TABLE's root page in the closed
 * database, as a bad sector would. */
static void
damage_table(const char *table)
{
    char path[96];
    snprintf(path, sizeof path, "%s/careti.db", dir);
    sqlite3 *db;
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    int64_t page = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    unsigned char junk[16];
    memset(junk, 0xA5, sizeof junk);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, junk, sizeof junk, (off_t)((page - 1) * 4096)), sizeof junk);
    close(fd);
}

/* A damaged table is an error naming the damage and the file, never "no
 * such session" or an empty list; the store then refuses to start. */
START_TEST(test_a_damaged_table_is_an_error_not_a_missing_session)
{
    char id[16], path[96];
    struct store *st = store_with_session(id, sizeof id);
    close_store(st);
    /* The id lookup scans the primary key's index; the row is in the table. */
    damage_table("sqlite_autoindex_sessions_1");
    damage_table("sessions");
    snprintf(path, sizeof path, "%s/careti.db", dir);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char full[64];
    struct cerr err = {0};
    ck_assert_int_ne(find_session(db, id, full, sizeof full, &err), 0);
    ck_assert_msg(err.http_status == 500 && strstr(err.msg, "is damaged") != NULL &&
                      strstr(err.msg, path) != NULL,
                  "%d %s", err.http_status, err.msg);
    cerr_clear(&err);
    ck_assert_ptr_null(load_session(db, id, false, &err));
    ck_assert_msg(err.http_status == 500, "%d %s", err.http_status, err.msg);
    sqlite3_close(db);

    st = store_new(&loop);
    store_open(st, dir, on_result, NULL);
    wait_result();
    ck_assert(!store_ready(st));
    ck_assert(store_failed(st));
    ck_assert_ptr_nonnull(strstr(store_error(st), "quick_check"));
    ck_assert_ptr_nonnull(strstr(store_error(st), ".recover | sqlite3 new.db"));
    store_list_sessions(st, NULL, 10, on_result, NULL);
    wait_result();
    ck_assert_int_eq(last_err.http_status, 503);
    close_store(st);
}
END_TEST

/* A statement that fails inside a write fails the write: the message is
 * not stored and the error says why, where the session's touch used to
 * be stepped and forgotten. */
START_TEST(test_a_failing_statement_fails_its_write)
{
    char id[16];
    struct store *st = store_with_session(id, sizeof id);
    ck_assert_int_eq(sqlite3_exec(st->db,
                                  "CREATE TRIGGER frozen BEFORE UPDATE OF updated_at ON sessions"
                                  " BEGIN SELECT RAISE(ABORT, 'frozen'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    json_t *m = json_pack("{s:s, s:s}", "role", "assistant", "content", "lost");
    store_add_message(st, id, m, on_result, NULL);
    json_decref(m);
    wait_result();
    ck_assert_ptr_null(last);
    ck_assert_msg(strstr(last_err.msg, "storing the message failed (frozen)") != NULL, "%s",
                  last_err.msg);
    store_get_session(st, id, true, on_result, NULL);
    wait_result();
    ck_assert_uint_eq(json_array_size(json_object_get(last, "messages")), 0);
    /* Not damage: the store stays usable. */
    ck_assert(store_ready(st));
    close_store(st);
}
END_TEST

/* The database deleted under the store: the next write is refused with
 * the reason, the store stops being ready, and reads are refused too. */
START_TEST(test_a_deleted_database_refuses_writes)
{
    char id[16], path[96];
    struct store *st = store_with_session(id, sizeof id);
    snprintf(path, sizeof path, "%s/careti.db", dir);
    ck_assert_int_eq(unlink(path), 0);
    json_t *fields = json_pack("{s:s}", "title", "nowhere");
    store_create_session(st, fields, on_result, NULL);
    json_decref(fields);
    wait_result();
    ck_assert_ptr_null(last);
    ck_assert_int_eq(last_err.http_status, 503);
    ck_assert_ptr_nonnull(strstr(last_err.msg, "was deleted or replaced while caretid ran"));
    ck_assert(!store_ready(st));
    ck_assert(store_failed(st));
    ck_assert_ptr_nonnull(strstr(store_error(st), "/proc/"));
    store_get_session(st, id, false, on_result, NULL);
    wait_result();
    ck_assert_int_eq(last_err.http_status, 503);
    close_store(st);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("session_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_migrates_from_version_1);
    tcase_add_test(tc, test_refuses_a_newer_schema);
    tcase_add_test(tc, test_sessions_and_messages);
    tcase_add_test(tc, test_streaming_replies_are_recovered_as_interrupted);
    tcase_add_test(tc, test_request_log_keeps_every_record_of_a_batch);
    tcase_add_test(tc, test_request_log_prunes_rows_before_the_cutoff);
    tcase_add_test(tc, test_failed_prune_rolls_back_its_batch);
    tcase_add_test(tc, test_a_damaged_table_is_an_error_not_a_missing_session);
    tcase_add_test(tc, test_a_failing_statement_fails_its_write);
    tcase_add_test(tc, test_a_deleted_database_refuses_writes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
