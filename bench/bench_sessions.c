/*
 * bench_sessions: the agent store's costs, measured on the real store.
 *  - preparing a turn over a 262,144-token history (about 1 MB of text):
 *    load the session from SQLite, plan the context window, build the
 *    request's message list;
 *  - store write latency, and how late a 1 ms loop timer fires while
 *    writes run (the loop must not stall: writes are on the thread pool);
 *  - database size per 1,000 messages.
 * Prints Markdown table rows.  Usage: bench_sessions DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include "careti/agent/context.h"
#include "careti/core/sbuf.h"
#include "careti/core/xmalloc.h"
#include "careti/store/session_store.h"

static uv_loop_t loop;
static int answered;
static json_t *result;

static void
on_done(json_t *r, const struct cerr *err, void *arg)
{
    (void)arg;
    if (err != NULL) {
        fprintf(stderr, "bench_sessions: %s\n", err->msg);
        exit(1);
    }
    json_decref(result);
    result = r;
    answered++;
}

static void
wait_answers(int n)
{
    while (answered < n)
        uv_run(&loop, UV_RUN_ONCE);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double
pct(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)v[i] / 1e6;
}

/* Lateness of a 1 ms repeating timer, in ns. */
static uint64_t lateness[200000];
static size_t n_late;
static uint64_t expected_at;
/* The same with nothing else to do, for a second: the machine's own
 * jitter (a virtual machine's stolen time shows here), which the loaded
 * figure cannot be better than. */
static uint64_t idle_lateness[1000];
static size_t n_idle_late;

static void
on_idle_tick(uv_timer_t *t)
{
    uint64_t now = uv_hrtime();
    if (expected_at != 0)
        idle_lateness[n_idle_late++] = now > expected_at ? now - expected_at : 0;
    expected_at = now + 1000000;
    if (n_idle_late == sizeof idle_lateness / sizeof idle_lateness[0])
        uv_timer_stop(t);
}

static void
on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_hrtime();
    if (expected_at != 0 && n_late < sizeof lateness / sizeof lateness[0])
        lateness[n_late++] = now > expected_at ? now - expected_at : 0;
    expected_at = now + 1000000;
}

static char *
text_of(size_t bytes, unsigned seed)
{
    char *s = xmalloc(bytes + 1);
    for (size_t i = 0; i < bytes; i++)
        s[i] = (i % 7 == 6) ? ' ' : (char)('a' + (seed + i) % 26);
    s[bytes] = '\0';
    return s;
}

static off_t
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_sessions DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    xmalloc_init_json();
    uv_loop_init(&loop);
    struct store *st = store_new(&loop);
    int n = 0;
    store_open(st, dir, on_done, NULL);
    wait_answers(++n);

    /* A history of 262,144 tokens: 512 messages of 2 KiB. */
    json_t *fields = json_object();
    store_create_session(st, fields, on_done, NULL);
    json_decref(fields);
    wait_answers(++n);
    char id[32];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(result, "id")));

    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_idle_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    expected_at = 0;
    uv_timer_start(&tick, on_tick, 1, 1);
    static uint64_t write_ns[2048];
    size_t n_writes = 0;
    for (int i = 0; i < 512; i++) {
        char *text = text_of(2048, (unsigned)i);
        json_t *m = json_pack("{s:s, s:s}", "role", i % 2 ? "assistant" : "user", "content", text);
        uint64_t t0 = uv_hrtime();
        store_add_message(st, id, m, on_done, NULL);
        wait_answers(++n);
        write_ns[n_writes++] = uv_hrtime() - t0;
        json_decref(m);
        free(text);
    }
    /* Checkpoint-sized updates, as a streaming reply makes them. */
    int64_t last_id = json_integer_value(json_object_get(result, "id"));
    for (int i = 0; i < 512; i++) {
        char *text = text_of(64 * (size_t)(i + 1), (unsigned)i);
        json_t *f = json_pack("{s:s, s:s}", "content", text, "status", "streaming");
        uint64_t t0 = uv_hrtime();
        store_update_message(st, last_id, f, on_done, NULL);
        wait_answers(++n);
        write_ns[n_writes++] = uv_hrtime() - t0;
        json_decref(f);
        free(text);
    }
    uv_timer_stop(&tick);

    /* Prepare a turn.  Warm: the daemon keeps recent sessions in memory,
     * so a turn plans and serialises from there.  Cold: the first turn
     * after a restart loads the session from SQLite first. */
    static uint64_t warm_ns[50], cold_ns[20];
    int64_t tokens_seen = 0;
    store_get_session(st, id, true, on_done, NULL);
    wait_answers(++n);
    json_t *loaded = json_incref(result);
    for (int r = 0; r < 70; r++) {
        bool cold = r >= 50;
        uint64_t t0 = uv_hrtime();
        json_t *session = loaded;
        if (cold) {
            store_get_session(st, id, true, on_done, NULL);
            wait_answers(++n);
            session = result;
        }
        json_t *history = json_object_get(session, "messages");
        size_t count = json_array_size(history);
        struct context_item *items = xcalloc(count, sizeof *items);
        bool *keep = xcalloc(count, sizeof *keep);
        for (size_t i = 0; i < count; i++) {
            json_t *m = json_array_get(history, i);
            items[i].role = json_string_value(json_object_get(m, "role"));
            items[i].tokens = json_integer_value(json_object_get(m, "tokens"));
        }
        struct context_plan plan;
        context_plan(items, count, context_budget(262144), keep, &plan);
        json_t *messages = json_array();
        for (size_t i = 0; i < count; i++)
            if (keep[i])
                json_array_append_new(messages,
                                      json_pack("{s:O, s:O}", "role",
                                                json_object_get(json_array_get(history, i), "role"),
                                                "content",
                                                json_object_get(json_array_get(history, i), "content")));
        /* Serialised as the relay does before sending it. */
        struct sbuf body = {0};
        sbuf_add_json(&body, messages);
        if (cold)
            cold_ns[r - 50] = uv_hrtime() - t0;
        else
            warm_ns[r] = uv_hrtime() - t0;
        tokens_seen = 0;
        for (size_t i = 0; i < count; i++)
            tokens_seen += items[i].tokens;
        sbuf_free(&body);
        json_decref(messages);
        free(items);
        free(keep);
    }
    json_decref(loaded);

    /* Size per 1,000 typical messages (500 bytes each) in a fresh session. */
    char db[512], wal[512];
    snprintf(db, sizeof db, "%s/careti.db", dir);
    snprintf(wal, sizeof wal, "%s/careti.db-wal", dir);
    off_t before = file_size(db) + file_size(wal);
    fields = json_object();
    store_create_session(st, fields, on_done, NULL);
    json_decref(fields);
    wait_answers(++n);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(result, "id")));
    for (int i = 0; i < 1000; i++) {
        char *text = text_of(500, (unsigned)i * 7);
        json_t *m = json_pack("{s:s, s:s}", "role", i % 2 ? "assistant" : "user", "content", text);
        store_add_message(st, id, m, on_done, NULL);
        wait_answers(++n);
        json_decref(m);
        free(text);
    }
    off_t after = file_size(db) + file_size(wal);

    printf("| prepare a turn over %lld tokens (512 messages, 1 MiB): plan and serialise from "
           "memory | p50 %.2f ms, p99 %.2f ms | <= 5 ms |\n",
           (long long)tokens_seen, pct(warm_ns, 50, 0.5), pct(warm_ns, 50, 0.99));
    printf("| the same, cold (first turn after a restart: load from SQLite first) | p50 %.2f ms, "
           "p99 %.2f ms | - |\n",
           pct(cold_ns, 20, 0.5), pct(cold_ns, 20, 0.99));
    printf("| store write latency (insert, checkpoint update) | p50 %.2f ms, p99 %.2f ms | - |\n",
           pct(write_ns, n_writes, 0.5), pct(write_ns, n_writes, 0.99));
    printf("| loop timer lateness while writing (1 ms timer, %zu ticks) | p50 %.3f ms, p99 %.3f "
           "ms | p99 <= 1 ms |\n",
           n_late, pct(lateness, n_late, 0.5), pct(lateness, n_late, 0.99));
    printf("| the same timer with nothing to do: this machine's own jitter (%zu ticks) | p50 %.3f "
           "ms, p99 %.3f ms | - |\n",
           n_idle_late, pct(idle_lateness, n_idle_late, 0.5),
           pct(idle_lateness, n_idle_late, 0.99));
    printf("| database size per 1,000 messages of 500 bytes | %.0f KiB | - |\n",
           (double)(after - before) / 1024.0);

    json_decref(result);
    uv_close((uv_handle_t *)&tick, NULL);
    store_close(st, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
