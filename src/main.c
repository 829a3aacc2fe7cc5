/*
 * caretid's entry point: command-line flags, config discovery, then the
 * daemon.  Owns nothing past start-up; --check-config never opens a
 * socket.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "careti/config/config.h"
#include "careti/core/log.h"
#include "careti/core/proto.h"
#include "careti/core/xmalloc.h"
#include "careti/daemon/daemon.h"

static void
usage(FILE *out)
{
    fputs("usage: caretid [-v] [-c FILE] [--socket PATH] [--check-config] [--tcp-optional]\n"
          "       caretid --version | --help\n"
          "\n"
          "  -c, --config FILE   configuration file (default: $CARETI_CONFIG,\n"
          "                      $XDG_CONFIG_HOME/careti/caretid.yaml, /etc/careti/caretid.yaml)\n"
          "      --socket PATH   Unix socket to serve (default: $CARETI_SOCKET, daemon.socket)\n"
          "      --check-config  validate the configuration, print it, and exit\n"
          "      --tcp-optional  a TCP listener that cannot be opened is a warning\n"
          "  -v, --verbose       log more (repeat for debug)\n"
          "      --version       print the version and exit\n"
          "  -h, --help          print this help and exit\n",
          out);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 'S'},
        {"check-config", no_argument, NULL, 'C'},
        {"tcp-optional", no_argument, NULL, 'T'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct daemon_options opts = {0};
    const char *explicit_config = NULL;
    bool check_only = false;
    int ch;

    xmalloc_init_json();
    log_init("caretid");
    while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            explicit_config = optarg;
            break;
        case 'S':
            opts.socket_override = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'v':
            opts.verbosity++;
            break;
        case 'T':
            opts.tcp_optional = true;
            break;
        case 'V':
            printf("caretid %s (API %d)\n", CARETI_VERSION, CARETI_API_VERSION);
            return CARETID_EXIT_OK;
        case 'h':
            usage(stdout);
            return CARETID_EXIT_OK;
        default:
            usage(stderr);
            return CARETID_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "caretid: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return CARETID_EXIT_USAGE;
    }
    if (opts.socket_override == NULL) {
        const char *env = getenv("CARETI_SOCKET");
        if (env != NULL && *env != '\0')
            opts.socket_override = env;
    }

    char *config_path = config_find(explicit_config);
    struct cerr err = {0};
    struct config *cfg = config_load(config_path, &err);
    if (cfg == NULL) {
        fprintf(stderr, "caretid: %s\n", err.msg);
        free(config_path);
        return CARETID_EXIT_FAILURE;
    }
    if (check_only) {
        if (opts.socket_override != NULL) {
            free(cfg->daemon.socket);
            cfg->daemon.socket = xstrdup(opts.socket_override);
        }
        config_dump(cfg, stdout);
        config_free(cfg);
        free(config_path);
        return CARETID_EXIT_OK;
    }
    opts.config_path = config_path;
    int code = daemon_run_take(&opts, cfg);
    free(config_path);
    return code;
}
