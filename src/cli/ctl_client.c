/*
 * ctl_client: one HTTP request to caretid over its Unix socket with
 * libcurl.  Owns the curl handle for the request's length only; the
 * connection itself, and whether its server is trusted, is ctl_socket's.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "careti/core/path.h"
#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

struct answer {
    char *data;
    size_t len;
};

/* Replies from our own daemon are small; a bound keeps a confused peer
 * on the socket from filling memory. */
#define CTL_MAX_ANSWER (16 * 1024 * 1024)

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct answer *a = userdata;
    size_t n = size * nmemb;
    if (a->len + n > CTL_MAX_ANSWER)
        return 0;
    a->data = xrealloc(a->data, a->len + n + 1);
    memcpy(a->data + a->len, ptr, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

int
ctl_request(const struct ctl_ctx *ctx, const char *method, const char *path, const char *body,
            json_t **out)
{
    char url[512];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct answer a = {0};
    struct curl_slist *headers = NULL;
    struct ctl_conn conn;
    long status = 0;
    int rc;

    *out = NULL;
    CURL *h = curl_easy_init();
    if (h == NULL) {
        fprintf(stderr, "caretictl: cannot initialise libcurl\n");
        return -CTL_EXIT_ERROR;
    }
    if ((rc = ctl_conn_setup(&conn, h, ctx->socket)) != 0)
        goto out;
    snprintf(url, sizeof url, "http://localhost%s", path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    CURLcode res = curl_easy_perform(h);
    if (res != CURLE_OK) {
        rc = ctl_conn_failed(&conn, h, res, errbuf);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (a.data != NULL)
        *out = json_loadb(a.data, a.len, 0, NULL);
    rc = (int)status;
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    free(a.data);
    return rc;
}

int
ctl_check_model(const struct ctl_ctx *ctx, const char *model)
{
    json_t *req = json_pack("{s:s}", "model", model);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *ans = NULL;
    int status = ctl_request(ctx, "POST", "/api/show", body, &ans);
    free(body);
    int code = status < 0 ? -status : status >= 400 ? ctl_print_error(status, ans) : CTL_EXIT_OK;
    json_decref(ans);
    return code;
}

int
ctl_print_error(int status, json_t *answer)
{
    json_t *err = json_object_get(answer, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (msg == NULL)
        msg = json_string_value(err);
    fprintf(stderr, "caretictl: the daemon answered %d: %s\n", status,
            msg ? msg : "(no error message)");
    return CTL_EXIT_ERROR;
}

/* Set by SIGINT so a streamed answer can stop cleanly (the daemon sees
 * the connection close and aborts the model server's work). */
static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct stream_state {
    struct answer line;
    ctl_line_cb on_line;
    void *arg;
    long status;
    CURL *h;
    bool stop;
    struct answer error_body;
};

static size_t
on_stream_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct stream_state *st = userdata;
    size_t n = size * nmemb;
    if (st->status == 0)
        curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &st->status);
    if (st->status >= 400)
        return on_data(ptr, size, nmemb, &st->error_body);
    for (size_t i = 0; i < n && !st->stop; i++) {
        if (ptr[i] != '\n') {
            if (st->line.len + 1 > CTL_MAX_ANSWER)
                return 0;
            st->line.data = xrealloc(st->line.data, st->line.len + 2);
            st->line.data[st->line.len++] = ptr[i];
            st->line.data[st->line.len] = '\0';
            continue;
        }
        if (!st->on_line(st->line.data ? st->line.data : "", st->line.len, st->arg))
            st->stop = true;
        st->line.len = 0;
    }
    return st->stop ? 0 : n;
}

static int
on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)p, (void)dt, (void)dn, (void)ut, (void)un;
    return interrupted ? 1 : 0;
}

int
ctl_stream_get(const struct ctl_ctx *ctx, const char *path, ctl_line_cb on_line, void *arg)
{
    return ctl_stream(ctx, path, NULL, on_line, arg);
}

int
ctl_stream(const struct ctl_ctx *ctx, const char *path, const char *body, ctl_line_cb on_line,
           void *arg)
{
    char url[512];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct stream_state st = {.on_line = on_line, .arg = arg};
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    struct ctl_conn conn;
    int rc;

    CURL *h = curl_easy_init();
    if (h == NULL) {
        fprintf(stderr, "caretictl: cannot initialise libcurl\n");
        curl_slist_free_all(headers);
        return -CTL_EXIT_ERROR;
    }
    st.h = h;
    interrupted = 0;
    if ((rc = ctl_conn_setup(&conn, h, ctx->socket)) != 0)
        goto out;
    snprintf(url, sizeof url, "http://localhost%s", path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    sigaction(SIGINT, &sa, &old);
    CURLcode res = curl_easy_perform(h);
    sigaction(SIGINT, &old, NULL);
    if (interrupted) {
        rc = -CTL_EXIT_INTERRUPTED;
    } else if (res != CURLE_OK && !st.stop) {
        rc = ctl_conn_failed(&conn, h, res, errbuf);
    } else {
        if (st.line.len > 0 && !st.stop)
            on_line(st.line.data, st.line.len, arg);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st.status);
        rc = (int)st.status;
        if (st.status >= 400) {
            json_t *j = st.error_body.data ? json_loadb(st.error_body.data, st.error_body.len, 0, NULL) : NULL;
            ctl_print_error((int)st.status, j);
            json_decref(j);
        }
    }
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    free(st.line.data);
    free(st.error_body.data);
    return rc;
}

char *
ctl_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = xstrdup(e ? e : "");
    curl_free(e);
    return out;
}

static bool
print_line(const char *line, size_t len, void *arg)
{
    (void)arg;
    fwrite(line, 1, len, stdout);
    putchar('\n');
    return true;
}

int
ctl_print_body(const struct ctl_ctx *ctx, const char *path)
{
    int status = ctl_stream_get(ctx, path, print_line, NULL);
    if (status < 0)
        return -status;
    return status >= 400 ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

int
ctl_fetch(const struct ctl_ctx *ctx, const char *path, json_t **out)
{
    json_t *ans;
    *out = NULL;
    int status = ctl_request(ctx, "GET", path, NULL, &ans);
    if (status < 0)
        return -status;
    if (status != 200) {
        int code = ctl_print_error(status, ans);
        json_decref(ans);
        return code;
    }
    if (ctx->json) {
        json_dumpf(ans, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(ans);
        return CTL_EXIT_OK;
    }
    *out = ans;
    return -1;
}

void
ctl_format_bytes(double bytes, char *out, size_t len)
{
    if (bytes <= 0)
        snprintf(out, len, "-");
    else if (bytes >= 1e9)
        snprintf(out, len, "%.1f GB", bytes / 1e9);
    else if (bytes >= 1e6)
        snprintf(out, len, "%.0f MB", bytes / 1e6);
    else
        snprintf(out, len, "%.0f kB", bytes / 1e3);
}

char *
ctl_state_file(const char *name)
{
    char *dir = path_expand("${XDG_STATE_HOME}/careti", NULL);
    if (dir == NULL)
        return NULL;
    char *p = xasprintf("%s/%s", dir, name);
    free(dir);
    return p;
}
