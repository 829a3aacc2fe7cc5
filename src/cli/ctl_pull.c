/*
 * caretictl pull MODEL: download a model on an Ollama provider, with a
 * progress bar per layer on a terminal (percent, bytes, rate, ETA) and
 * plain lines otherwise; --json passes Ollama's events through.  Ctrl-C
 * stops the download (the daemon drops the connection to Ollama).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "ctl.h"

#define PULL_MAX_LAYERS 32

struct layer {
    char digest[80];
    double total, completed;
    double started, last_plain;
};

struct pull {
    const struct ctl_ctx *ctx;
    bool tty;
    struct layer layers[PULL_MAX_LAYERS];
    int n_layers;
    int drawn; /* lines of progress on screen */
    char status[128];
    bool success;
    bool failed;
};

static void
human(double bytes, char *out, size_t len)
{
    if (bytes >= 1e9)
        snprintf(out, len, "%.2f GB", bytes / 1e9);
    else if (bytes >= 1e6)
        snprintf(out, len, "%.1f MB", bytes / 1e6);
    else
        snprintf(out, len, "%.0f kB", bytes / 1e3);
}

static void
layer_line(const struct layer *l, char *out, size_t len, bool bar)
{
    double pct = l->total > 0 ? 100.0 * l->completed / l->total : 0;
    double elapsed = ctl_now_s() - l->started;
    double rate = elapsed > 0 ? l->completed / elapsed : 0;
    char done[24], total[24], speed[24], eta[24] = "-";
    human(l->completed, done, sizeof done);
    human(l->total, total, sizeof total);
    human(rate, speed, sizeof speed);
    if (rate > 0 && l->completed < l->total) {
        double left = (l->total - l->completed) / rate;
        snprintf(eta, sizeof eta, "%dm%02ds", (int)left / 60, (int)left % 60);
    }
    char bars[32] = "";
    if (bar) {
        int filled = (int)(pct / 5);
        for (int i = 0; i < 20; i++)
            bars[i] = i < filled ? '#' : '.';
        bars[20] = '\0';
    }
    snprintf(out, len, "%.12s %s%s%5.1f%%  %s / %s  %s/s  eta %s", l->digest, bars,
             bar ? " " : "", pct, done, total, speed, eta);
}

static void
redraw(struct pull *p)
{
    if (p->drawn > 0)
        printf("\033[%dA", p->drawn);
    printf("\r\033[K%s\n", p->status);
    for (int i = 0; i < p->n_layers; i++) {
        char line[160];
        layer_line(&p->layers[i], line, sizeof line, true);
        printf("\r\033[K%s\n", line);
    }
    p->drawn = p->n_layers + 1;
    fflush(stdout);
}

static bool
on_line(const char *line, size_t len, void *arg)
{
    struct pull *p = arg;
    if (len == 0)
        return true;
    if (p->ctx->json) {
        fwrite(line, 1, len, stdout);
        putchar('\n');
        fflush(stdout);
    }
    json_t *j = json_loadb(line, len, 0, NULL);
    const char *err = json_string_value(json_object_get(j, "error"));
    const char *status = json_string_value(json_object_get(j, "status"));
    if (err != NULL) {
        fprintf(stderr, "caretictl: %s\n", err);
        p->failed = true;
        json_decref(j);
        return false;
    }
    const char *digest = json_string_value(json_object_get(j, "digest"));
    struct layer *l = NULL;
    if (digest != NULL) {
        const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
        for (int i = 0; i < p->n_layers; i++)
            if (strcmp(p->layers[i].digest, hex) == 0)
                l = &p->layers[i];
        if (l == NULL && p->n_layers < PULL_MAX_LAYERS) {
            l = &p->layers[p->n_layers++];
            snprintf(l->digest, sizeof l->digest, "%s", hex);
            l->started = ctl_now_s();
        }
        if (l != NULL) {
            l->total = json_number_value(json_object_get(j, "total"));
            l->completed = json_number_value(json_object_get(j, "completed"));
        }
    }
    bool changed = status != NULL && strcmp(status, p->status) != 0 && digest == NULL;
    if (status != NULL && digest == NULL)
        snprintf(p->status, sizeof p->status, "%s", status);
    if (status != NULL && strcmp(status, "success") == 0)
        p->success = true;
    if (!p->ctx->json) {
        if (p->tty) {
            redraw(p);
        } else if (l != NULL) {
            /* Plain output: one line per layer every 10% or so. */
            double pct = l->total > 0 ? l->completed / l->total : 0;
            if (l->completed == 0 || pct >= 1 || pct - l->last_plain >= 0.1) {
                char text[160];
                layer_line(l, text, sizeof text, false);
                printf("%s\n", text);
                l->last_plain = pct;
            }
        } else if (changed) {
            printf("%s\n", p->status);
        }
    }
    json_decref(j);
    return true;
}

static int
run_pull(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    struct pull p = {.ctx = ctx};
    p.tty = isatty(STDOUT_FILENO) && !ctx->json;
    json_t *req = json_pack("{s:s, s:b}", "model", argv[0], "stream", 1);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int status = ctl_stream(ctx, "/api/pull", body, on_line, &p);
    free(body);
    if (status == -CTL_EXIT_INTERRUPTED) {
        fprintf(stderr, "caretictl: pull of %s cancelled\n", argv[0]);
        return CTL_EXIT_INTERRUPTED;
    }
    if (status < 0)
        return -status;
    if (status >= 400 || p.failed)
        return CTL_EXIT_ERROR;
    if (!p.success) {
        fprintf(stderr, "caretictl: the pull ended before Ollama said success\n");
        return CTL_EXIT_ERROR;
    }
    if (!ctx->json)
        printf("pulled %s\n", argv[0]);
    return CTL_EXIT_OK;
}

const struct ctl_cmd ctl_pull_entry = {
    "pull", NULL, "MODEL", "download a model on an Ollama provider, with progress", 1, 1,
    run_pull,
};
