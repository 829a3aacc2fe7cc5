/*
 * daemon: wires the rooms around one uv_loop_t.  Owns the loop, the
 * config in force, the HTTP server, the router, the instance lock and the
 * signal handlers.  Must never block the loop: the config is re-read on a
 * worker thread and swapped in whole on the loop thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "careti/api/api_agent.h"
#include "careti/api/api_control.h"
#include "careti/api/api_sessions.h"
#include "careti/api/doctor.h"
#include "careti/api/events.h"
#include "careti/api/gateway.h"
#include "careti/core/jfield.h"
#include "careti/core/log.h"
#include "careti/core/proto.h"
#include "careti/core/rundir.h"
#include "careti/core/xmalloc.h"
#include "careti/daemon/daemon.h"
#include "careti/daemon/systemd.h"
#include "careti/daemon/tcp_token.h"
#include "careti/http/http_server.h"
#include "careti/http/router.h"
#include "careti/models/lookup.h"
#include "careti/models/metrics.h"
#include "careti/models/provider.h"
#include "careti/models/request_log.h"
#include "careti/store/session_store.h"
#include "careti/upstream/upstream.h"

struct reload_waiter {
    control_reload_cb cb;
    void *arg;
    struct reload_waiter *next;
};

struct daemon {
    uv_loop_t loop;
    struct config *cfg;
    const struct daemon_options *opts;
    char *socket_path;
    bool socket_activated;
    int lock_fd;
    int state_lock_fd; /* daemon.state_dir's lock: one daemon per database */
    struct http_server *srv;
    struct router *router;
    struct upstream *up;
    struct providers *providers;
    struct gateway *gateway;
    struct lookup *lookup;
    struct store *store;
    struct events *events;
    struct sessions_api *sessions;
    struct metrics *metrics;
    struct doctor *doctor;
    char *state_dir; /* the one opened at start; a reload does not move it */
    /* The TCP listeners, one for each of cfg->daemon.listen, in order. */
    struct http_listener **tcp;
    size_t n_tcp;
    char tcp_token[TCP_TOKEN_LEN + 1]; /* from state_dir; "" when unavailable */
    char tcp_token_error[256];
    struct request_log *requests;
    uv_signal_t sig_hup, sig_term, sig_int;
    uv_timer_t grace_timer;
    bool server_closed; /* every connection is gone (shutdown) */
    bool stopping;
    int exit_code;
    time_t started_wall;
    uint64_t started_ms;
    /* reload state */
    bool reloading;
    uv_work_t reload_work;
    struct config *reload_result;
    struct cerr reload_err;
    struct reload_waiter *waiters;
    time_t last_reload_at;
    bool last_reload_ok;
    char last_reload_error[256];
    uint64_t reloads;
};

static void apply_config(struct daemon *d);
static const char *daemon_tcp_token(const struct daemon *d);
static void on_signal(uv_signal_t *h, int signum);
static void begin_shutdown(struct daemon *d);

static enum log_level
effective_level(const struct daemon *d)
{
    int level = (int)d->cfg->daemon.log_level + d->opts->verbosity;
    return level > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : (enum log_level)level;
}

/* Push config values into the modules that cache them. */
static void
apply_config(struct daemon *d)
{
    const struct config_daemon *dc = &d->cfg->daemon;
    struct http_server_limits limits = {
        .max_body_bytes = (uint64_t)dc->max_body_bytes,
        .header_timeout_ms = (uint64_t)dc->header_timeout_s * 1000,
        .idle_timeout_ms = (uint64_t)dc->idle_timeout_s * 1000,
        .max_connections = (size_t)dc->max_connections,
    };
    log_set_level(effective_level(d));
    providers_configure(d->providers, d->cfg);
    lookup_set_config(d->lookup, d->cfg);
    request_log_set_retention(d->requests, d->cfg->daemon.request_log_days);
    gateway_set_config(d->gateway, d->cfg);
    sessions_api_set_config(d->sessions, d->cfg);
    doctor_set_config(d->doctor, d->cfg, &d->socket_path);
    http_server_set_limits(d->srv, &limits);
    struct http_tcp_policy policy = {
        .token = daemon_tcp_token(d),
        .allowed_hosts = dc->allowed_hosts,
        .n_allowed_hosts = dc->n_allowed_hosts,
        .allowed_origins = dc->allowed_origins,
        .n_allowed_origins = dc->n_allowed_origins,
    };
    http_server_set_tcp_policy(d->srv, &policy);
}

/* The bearer token TCP requests need, or NULL when daemon.auth_token is
 * off.  Borrowed: valid until the next reload. */
static const char *
daemon_tcp_token(const struct daemon *d)
{
    const char *token = d->cfg->daemon.auth_token;
    if (config_token_is_off(token))
        return NULL;
    if (*token != '\0')
        return token;
    return d->tcp_token[0] != '\0' ? d->tcp_token : NULL;
}

/* TCP listeners in CFG with neither a token of their own nor the
 * generated one are refused, not opened unprotected. */
static int
check_tcp_token(const struct daemon *d, const struct config *cfg, struct cerr *err)
{
    if (cfg->daemon.n_listen == 0 || *cfg->daemon.auth_token != '\0' || d->tcp_token[0] != '\0')
        return 0;
    return cerr_set(err, -EACCES, 500,
                    "daemon.listen needs a token, and %s; or set daemon.auth_token in %s",
                    d->tcp_token_error, cfg->path ? cfg->path : "the config");
}

/* Open the TCP listeners CFG names into a new array (*OUT), reusing the
 * ones in force whose address is unchanged, so that a reload never drops
 * an address it keeps.  On failure nothing in force is touched: what was
 * opened is closed again, and ERR names daemon.listen and the fix. */
static int
open_tcp_listeners(struct daemon *d, const struct config *cfg, struct http_listener ***out,
                   struct cerr *err)
{
    size_t n = cfg->daemon.n_listen;
    struct http_listener **fresh = xcalloc(n + 1, sizeof *fresh);
    bool *taken = xcalloc(d->n_tcp + 1, sizeof *taken); /* in force, reused by FRESH */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *spec = cfg->daemon.listen[i];
        for (size_t j = 0; j < d->n_tcp && fresh[i] == NULL; j++) {
            if (!taken[j] && d->tcp[j] != NULL && strcmp(d->cfg->daemon.listen[j], spec) == 0) {
                fresh[i] = d->tcp[j];
                taken[j] = true;
            }
        }
        if (fresh[i] != NULL)
            continue;
        char host[256];
        int port;
        struct cerr lerr = {0};
        config_listen_parse(spec, host, sizeof host, &port); /* validated at load */
        rc = http_server_listen_tcp(d->srv, host, port, &fresh[i], &lerr);
        if (rc != 0)
            cerr_set(err, rc, 500,
                     "%s: daemon.listen in %s; free the port, or choose another (port 0 picks a "
                     "free one; to move a port this daemon holds to another address, restart it)",
                     lerr.msg, cfg->path ? cfg->path : "the config");
        else
            log_info("listening on %s", spec);
    }
    if (rc == 0) {
        for (size_t j = 0; j < d->n_tcp; j++)
            if (taken[j])
                d->tcp[j] = NULL; /* now FRESH's */
        *out = fresh;
    } else {
        for (size_t i = 0; i < n; i++) {
            bool in_force = false;
            for (size_t j = 0; j < d->n_tcp; j++)
                in_force = in_force || (fresh[i] != NULL && fresh[i] == d->tcp[j]);
            if (!in_force)
                http_server_close_listener(fresh[i]);
        }
        free(fresh);
    }
    free(taken);
    return rc;
}

/* FRESH (from open_tcp_listeners) is now in force: close the old
 * listeners it did not take over. */
static void
swap_tcp_listeners(struct daemon *d, struct http_listener **fresh, size_t n)
{
    for (size_t j = 0; j < d->n_tcp; j++)
        http_server_close_listener(d->tcp[j]);
    free(d->tcp);
    d->tcp = fresh;
    d->n_tcp = n;
}

/* Whether every listener of CFG is open now: false after --tcp-optional
 * left one closed at start, so that a reload tries it again. */
static bool
tcp_listeners_open(const struct daemon *d, const struct config *cfg)
{
    if (d->n_tcp != cfg->daemon.n_listen)
        return false;
    for (size_t i = 0; i < d->n_tcp; i++)
        if (d->tcp[i] == NULL)
            return false;
    return true;
}

static bool
same_listen_list(const struct config *a, const struct config *b)
{
    if (a->daemon.n_listen != b->daemon.n_listen)
        return false;
    for (size_t i = 0; i < a->daemon.n_listen; i++)
        if (strcmp(a->daemon.listen[i], b->daemon.listen[i]) != 0)
            return false;
    return true;
}

/* Say in ERR that the previous configuration is still in force. */
static void
prefix_kept(struct cerr *err)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    cerr_set(err, err->code, err->http_status, "the previous configuration stays in force: %s",
             msg);
}

static bool
names_https_provider(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strncmp(cfg->providers[i].base_url, "https://", 8) == 0)
            return true;
    return false;
}

static void
reload_work(uv_work_t *w)
{
    struct daemon *d = w->data;
    cerr_clear(&d->reload_err);
    d->reload_result = config_load(d->opts->config_path, &d->reload_err);
    /* Here, off the loop, rather than at the first https:// request.  A
     * failure is told to that request. */
    struct cerr ignored;
    if (d->reload_result != NULL && names_https_provider(d->reload_result))
        upstream_load_https(&ignored);
}

static void
reload_done(uv_work_t *w, int status)
{
    struct daemon *d = w->data;
    struct config *fresh = d->reload_result;
    d->reload_result = NULL;
    d->reloading = false;
    d->last_reload_at = time(NULL);
    d->reloads++;
    if (status != 0 && fresh == NULL)
        cerr_set(&d->reload_err, status, 500, "reload cancelled (%s)", uv_strerror(status));
    else if (fresh == NULL)
        prefix_kept(&d->reload_err);
    struct http_listener **tcp = NULL;
    if (fresh != NULL && !d->stopping &&
        (!same_listen_list(d->cfg, fresh) || !tcp_listeners_open(d, d->cfg))) {
        struct cerr lerr = {0};
        if (check_tcp_token(d, fresh, &lerr) != 0 ||
            open_tcp_listeners(d, fresh, &tcp, &lerr) != 0) {
            d->reload_err = lerr;
            prefix_kept(&d->reload_err);
            config_free(fresh);
            fresh = NULL;
        }
    }
    if (fresh != NULL) {
        struct config *old = d->cfg;
        d->cfg = fresh;
        if (tcp != NULL)
            swap_tcp_listeners(d, tcp, fresh->daemon.n_listen);
        apply_config(d);
        if (strcmp(d->state_dir, fresh->daemon.state_dir) != 0)
            log_warn("daemon.state_dir is now %s; sessions stay in %s until restarted",
                     fresh->daemon.state_dir, d->state_dir);
        if (strcmp(old->daemon.socket, fresh->daemon.socket) != 0 && !d->opts->socket_override)
            log_warn("daemon.socket changed to %s; the daemon keeps serving %s until restarted",
                     fresh->daemon.socket, d->socket_path);
        config_free(old);
    }
    if (fresh != NULL) {
        d->last_reload_ok = true;
        d->last_reload_error[0] = '\0';
        log_info("configuration reloaded from %s",
                 d->opts->config_path ? d->opts->config_path : "built-in defaults");
    } else {
        d->last_reload_ok = false;
        snprintf(d->last_reload_error, sizeof d->last_reload_error, "%s", d->reload_err.msg);
        log_error("reload failed: %s", d->reload_err.msg);
    }
    systemd_notify("READY=1");
    struct reload_waiter *list = d->waiters;
    d->waiters = NULL;
    while (list != NULL) {
        struct reload_waiter *next = list->next;
        list->cb(fresh != NULL ? NULL : &d->reload_err, list->arg);
        free(list);
        list = next;
    }
}

static void
daemon_reload(void *self, control_reload_cb cb, void *arg)
{
    struct daemon *d = self;
    if (d->stopping) {
        struct cerr err;
        cerr_set(&err, -ECANCELED, 503, "the daemon is stopping");
        if (cb != NULL)
            cb(&err, arg);
        return;
    }
    if (cb != NULL) {
        struct reload_waiter *w = xmalloc(sizeof *w);
        *w = (struct reload_waiter){cb, arg, d->waiters};
        d->waiters = w;
    }
    /* Callers that arrive while a reload runs join it rather than queue
     * another read of the same file. */
    if (d->reloading)
        return;
    d->reloading = true;
    char msg[64];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)uv_hrtime() / 1000);
    systemd_notify(msg);
    d->reload_work.data = d;
    if (uv_queue_work(&d->loop, &d->reload_work, reload_work, reload_done) != 0) {
        d->reloading = false;
        cerr_set(&d->reload_err, -EAGAIN, 500, "cannot queue the reload");
        reload_done(&d->reload_work, -EAGAIN);
    }
}

static void
daemon_metrics(void *self, struct sbuf *out)
{
    struct daemon *d = self;
    metrics_render(d->metrics, d->providers ? providers_queued(d->providers) : 0,
                   http_server_open_connections(d->srv), out);
}

static void
on_status_refreshed(void *arg)
{
    (void)arg;
}

static json_t *
daemon_status(void *self)
{
    struct daemon *d = self;
    json_t *providers = providers_status_json(d->providers);
    /* Status answers at once with the verdicts it has, and their age;
     * stale ones are fetched again meanwhile, for the next look. */
    providers_refresh(d->providers, false, on_status_refreshed, NULL);
    json_t *reload = json_pack("{s:I, s:b}", "count", (json_int_t)d->reloads, "ok",
                               d->reloads == 0 || d->last_reload_ok);
    if (d->reloads > 0) {
        char stamp[32];
        struct tm tm;
        gmtime_r(&d->last_reload_at, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(reload, "at", json_string(stamp));
    }
    json_object_set_new(reload, "error",
                        d->last_reload_error[0] ? json_string(d->last_reload_error) : json_null());
    json_t *state = json_pack("{s:s, s:b}", "dir", d->state_dir, "ready",
                              d->store != NULL && store_ready(d->store));
    if (d->store != NULL && !store_ready(d->store))
        json_object_set_new(state, "error", json_string(store_error(d->store)));
    char started[32];
    struct tm tm;
    gmtime_r(&d->started_wall, &tm);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s, s:i, s:I, s:s, s:f, s:s, s:b, s:o, s:s?, s:o, s:o, s:o, s:I, s:I, "
                     "s:s, s:s?}",
                     "version", CARETI_VERSION, "api_version", CARETI_API_VERSION, "pid",
                     (json_int_t)getpid(), "started_at", started, "uptime_s",
                     (double)(uv_now(&d->loop) - d->started_ms) / 1000.0, "socket",
                     d->socket_path, "socket_activated", d->socket_activated, "listeners",
                     http_server_listeners_json(d->srv), "config_path", d->cfg->path, "reload",
                     reload, "providers", providers, "state", state, "connections",
                     (json_int_t)http_server_open_connections(d->srv), "requests_served",
                     (json_int_t)http_server_requests_served(d->srv), "log_level",
                     log_level_name(log_get_level()), "default_model", d->cfg->defaults.model);
}

static void
daemon_request_stats(void *self, int64_t since_ms, store_cb cb, void *arg)
{
    struct daemon *d = self;
    request_log_stats(d->requests, since_ms, cb, arg);
}

static void
on_store_opened(json_t *result, const struct cerr *err, void *arg)
{
    (void)arg;
    if (err != NULL)
        log_error("%s; session routes answer 503 until it is fixed and caretid restarted",
                  err->msg);
    else
        log_info("agent state in %s (%lld interrupted replies recovered)",
                 jfield_str(result, "path"),
                 (long long)json_integer_value(json_object_get(result, "recovered")));
    json_decref(result);
}

/* Everything has ended: the last handles close, the catalogue fetches
 * stop, the upstream connections close, then the store closes once its
 * queued writes (the last request records among them) are done. */
static void
finish_shutdown(void *arg)
{
    struct daemon *d = arg;
    uv_timer_stop(&d->grace_timer);
    uv_close((uv_handle_t *)&d->grace_timer, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    providers_free(d->providers);
    d->providers = NULL;
    upstream_close(d->up);
    d->up = NULL;
    request_log_close(d->requests);
    store_close(d->store, NULL, NULL);
    d->store = NULL;
}

/* No connection is left.  A turn whose client has gone is the daemon's
 * and gets the rest of the grace period too. */
static void
on_server_closed(struct http_server *srv, void *arg)
{
    struct daemon *d = arg;
    (void)srv;
    d->server_closed = true;
    sessions_api_when_idle(d->sessions, finish_shutdown, d);
}

/* The turns cancelled at the end of the grace period have ended and told
 * their clients so: now the connections may close. */
static void
on_turns_aborted(void *arg)
{
    struct daemon *d = arg;
    if (d->server_closed)
        finish_shutdown(d); /* it replaced on_server_closed's wait */
    else
        http_server_close_all(d->srv);
}

static void
on_grace_expired(uv_timer_t *t)
{
    struct daemon *d = t->data;
    log_warn("shutdown grace of %ld s is over; interrupting the replies still running and "
             "closing the remaining connections",
             d->cfg->daemon.shutdown_grace_s);
    sessions_api_abort_turns(d->sessions);
    sessions_api_when_idle(d->sessions, on_turns_aborted, d);
}

static void
begin_shutdown(struct daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    systemd_notify("STOPPING=1");
    if (d->exit_code == CARETID_EXIT_OK)
        log_info("stopping: %zu connection(s) open, waiting up to %ld s for responses in flight",
             http_server_open_connections(d->srv), d->cfg->daemon.shutdown_grace_s);
    uv_timer_start(&d->grace_timer, on_grace_expired,
                   (uint64_t)d->cfg->daemon.shutdown_grace_s * 1000, 0);
    sessions_api_stop(d->sessions);
    http_server_shutdown(d->srv, on_server_closed, d);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP) {
        log_info("SIGHUP: reloading %s",
                 d->opts->config_path ? d->opts->config_path : "built-in defaults");
        daemon_reload(d, NULL, NULL);
        return;
    }
    if (d->stopping) {
        log_warn("second stop signal: closing every connection now");
        sessions_api_abort_turns(d->sessions);
        http_server_close_all(d->srv);
        return;
    }
    begin_shutdown(d);
}

/* The TCP listeners of the config at start.  With --tcp-optional one
 * that cannot be opened is a warning: the Unix socket serves all the
 * same. */
static int
start_tcp_listeners(struct daemon *d, struct cerr *err)
{
    struct http_listener **tcp = NULL;
    int rc = check_tcp_token(d, d->cfg, err);
    if (rc == 0)
        rc = open_tcp_listeners(d, d->cfg, &tcp, err);
    if (rc == 0) {
        swap_tcp_listeners(d, tcp, d->cfg->daemon.n_listen);
        return 0;
    }
    if (!d->opts->tcp_optional)
        return rc;
    log_warn("%s; serving the Unix socket only (--tcp-optional); a reload tries again", err->msg);
    cerr_clear(err);
    /* Listed but closed, so that a reload opens them. */
    swap_tcp_listeners(d, xcalloc(d->cfg->daemon.n_listen + 1, sizeof *d->tcp),
                       d->cfg->daemon.n_listen);
    return 0;
}

/* Open our own Unix socket, or take systemd's. */
static int
open_unix_listener(struct daemon *d, struct cerr *err)
{
    char inherited_path[108];
    int fd;
    int rc = systemd_listen_fd(&fd, inherited_path, sizeof inherited_path, err);
    if (rc != 0)
        return rc;
    if (fd >= 0) {
        free(d->socket_path);
        d->socket_path = xstrdup(inherited_path);
        d->socket_activated = true;
    }
    if (!d->socket_activated && (rc = rundir_prepare(d->socket_path, err)) != 0)
        return rc;
    d->lock_fd = rundir_lock(d->socket_path, err);
    if (d->lock_fd < 0)
        return d->lock_fd;
    if (d->socket_activated)
        return http_server_adopt_unix(d->srv, fd, d->socket_path, err);
    return http_server_listen_unix(d->srv, d->socket_path, err);
}

static const char *
tcp_token_op(void *self)
{
    return daemon_tcp_token(self);
}

static const struct control_ops control_ops = {
    .status = daemon_status,
    .tcp_token = tcp_token_op,
    .metrics = daemon_metrics,
    .request_stats = daemon_request_stats,
    .reload = daemon_reload,
};

int
daemon_run_take(const struct daemon_options *opts, struct config *cfg)
{
    struct daemon *d = xcalloc(1, sizeof *d);
    struct cerr err = {0};
    int rc;

    d->opts = opts;
    d->cfg = cfg;
    d->lock_fd = -1;
    d->state_lock_fd = -1;
    d->exit_code = CARETID_EXIT_OK;
    d->started_wall = time(NULL);
    if ((rc = uv_loop_init(&d->loop)) != 0) {
        /* Nothing else is made yet: only D and the configuration go. */
        log_error("cannot create the event loop (%s)", uv_strerror(rc));
        config_free(cfg);
        free(d);
        return CARETID_EXIT_FAILURE;
    }
    d->socket_path = xstrdup(opts->socket_override ? opts->socket_override : cfg->daemon.socket);
    signal(SIGPIPE, SIG_IGN);
    d->started_ms = uv_now(&d->loop);
    d->router = router_new();
    d->srv = http_server_new(&d->loop, router_dispatch, d->router, router_error_body);
    d->up = upstream_new(&d->loop);
    d->providers = providers_new(&d->loop, d->up);
    d->metrics = metrics_new();
    d->lookup = lookup_new(d->providers);
    d->gateway = gateway_new(d->srv, d->up, d->providers, d->lookup, d->metrics);
    d->store = store_new(&d->loop);
    d->requests = request_log_new(&d->loop, d->store, d->metrics);
    d->events = events_new();
    d->sessions = sessions_api_new(&d->loop, d->srv, d->store, d->lookup, d->events, d->up,
                                   d->providers, d->metrics);
    d->doctor = doctor_new(&d->loop, d->srv, d->lookup, d->providers, d->up);
    doctor_set_store(d->doctor, d->store);
    api_control_register(d->router, &control_ops, d, d->srv);
    api_agent_register(d->router);
    gateway_register(d->gateway, d->router);
    doctor_register(d->doctor, d->router);
    sessions_api_register(d->sessions, d->router);
    d->state_dir = xstrdup(cfg->daemon.state_dir);
    /* The socket's lock, then the state directory's, before anything in
     * that directory is touched: a daemon refused either way must not open
     * the database, where it would mark the running daemon's replies in
     * flight as interrupted.  Every daemon takes them in this order. */
    rc = open_unix_listener(d, &err);
    if (rc == 0) {
        int fd = rundir_lock_state(d->state_dir, d->socket_path, cfg->path, &err);
        if (fd >= 0)
            d->state_lock_fd = fd;
        else if (fd == -EWOULDBLOCK)
            rc = fd;
        else
            cerr_clear(&err); /* unusable: the store says why, and sessions answer 503 */
    }
    if (rc == 0) {
        store_open(d->store, d->state_dir, on_store_opened, NULL);
        /* Made even without TCP listeners, so that a reload adding some
         * finds it; a failure matters only to them (check_tcp_token). */
        if (tcp_token_load(d->state_dir, d->tcp_token, &err) != 0) {
            d->tcp_token[0] = '\0';
            snprintf(d->tcp_token_error, sizeof d->tcp_token_error, "%s", err.msg);
            cerr_clear(&err);
        }
    }
    apply_config(d);
    /* The loop is not serving yet: libcurl may load from disk now. */
    if (names_https_provider(cfg) && !upstream_load_https(&err))
        log_warn("%s", err.msg);

    uv_timer_init(&d->loop, &d->grace_timer);
    d->grace_timer.data = d;
    uv_signal_t *sigs[] = {&d->sig_hup, &d->sig_term, &d->sig_int};
    int signums[] = {SIGHUP, SIGTERM, SIGINT};
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        /* A daemon that cannot hear TERM cannot stop cleanly: refuse to serve. */
        if (rc == 0 && (rc = uv_signal_start(sigs[i], on_signal, signums[i])) != 0) {
            cerr_set(&err, rc, 0, "cannot watch signal %d (%s)", signums[i], uv_strerror(rc));
            break;
        }
    }

    if (rc != 0 || (rc = start_tcp_listeners(d, &err)) != 0) {
        log_error("%s", err.msg);
        d->exit_code = CARETID_EXIT_FAILURE;
        begin_shutdown(d);
    } else {
        log_info("caretid %s serving %s (pid %ld, config %s)", CARETI_VERSION, d->socket_path,
                 (long)getpid(), cfg->path ? cfg->path : "built-in defaults");
        char ready[160];
        snprintf(ready, sizeof ready, "READY=1\nSTATUS=serving %s\nMAINPID=%ld", d->socket_path,
                 (long)getpid());
        systemd_notify(ready);
    }

    uv_run(&d->loop, UV_RUN_DEFAULT);
    /* Stragglers (a reload in flight, upstream handles closing) close here. */
    while (uv_loop_close(&d->loop) == UV_EBUSY)
        uv_run(&d->loop, UV_RUN_ONCE);
    if (d->exit_code == CARETID_EXIT_OK)
        log_info("stopped after serving %llu request(s)",
                 (unsigned long long)http_server_requests_served(d->srv));
    int code = d->exit_code;
    http_server_free(d->srv);
    sessions_api_free(d->sessions);
    doctor_free(d->doctor);
    events_free(d->events);
    gateway_free(d->gateway);
    lookup_free(d->lookup);
    metrics_free(d->metrics);
    router_free(d->router);
    config_free(d->cfg);
    config_free(d->reload_result);
    if (d->state_lock_fd >= 0)
        close(d->state_lock_fd);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    free(d->socket_path);
    free(d->state_dir);
    free(d->tcp);
    request_log_free(d->requests);
    free(d);
    return code;
}
