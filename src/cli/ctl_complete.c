/*
 * caretictl __complete: shell completion, hidden from help.  `bash` and
 * `zsh` print a completion script whose commands, options and argument
 * kinds are read from the command table's usage strings, so the script
 * cannot drift from what `caretictl help` prints; `models` and `sessions`
 * print the daemon's names and ids for the script to offer, and nothing
 * when no daemon answers.  Never changes anything on the daemon.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careti/core/proto.h"
#include "ctl.h"

#define USAGE_MAX_TOKENS 64

/* Words for the script, cut at a usage string's worth. */
struct words {
    char s[512];
    size_t len;
};

static void
words_adds(struct words *b, const char *w)
{
    int n = snprintf(b->s + b->len, sizeof b->s - b->len, "%s", w);
    if (n > 0)
        b->len = b->len + (size_t)n < sizeof b->s ? b->len + (size_t)n : sizeof b->s - 1;
}

/* What a usage string says a command takes, as words for the script:
 * OPTS its options; ARGOPTS "OPT=KIND" for those that take an argument;
 * POS the kinds of its positional arguments in order ("+" after the last
 * when it repeats); SUBS "WORD=KIND,KIND" for each subcommand. */
struct usage_words {
    struct words opts, argopts, pos, subs;
};

/* The kind of value a placeholder stands for: what the script offers. */
static const char *
placeholder_kind(const char *word, char *buf, size_t len)
{
    if (strchr(word, '|') != NULL && islower((unsigned char)word[0])) {
        snprintf(buf, len, "words:%s", word);
        return buf;
    }
    if (strstr(word, "MODEL") != NULL)
        return "models";
    if (strstr(word, "SESSION") != NULL || strcmp(word, "ID") == 0)
        return "sessions";
    if (strstr(word, "COMMAND") != NULL)
        return "commands";
    if (strstr(word, "DIR") != NULL)
        return "dirs";
    if (strstr(word, "FILE") != NULL || strstr(word, "PATH") != NULL)
        return "files";
    return "none";
}

/* Split USAGE into words and the brackets and bars between them. */
static size_t
tokenize(const char *usage, char tok[][64], size_t max)
{
    size_t n = 0;
    for (const char *p = usage; *p != '\0' && n < max;) {
        if (*p == ' ') {
            p++;
        } else if (*p == '[' || *p == ']' || *p == '|') {
            tok[n][0] = *p++;
            tok[n++][1] = '\0';
        } else {
            size_t l = strcspn(p, " []|"), m = l;
            /* "[md|json]": one word of choices, when no choice takes an
             * argument (unlike "[list|show ID|...]"). */
            while (p[m] == '|' && islower((unsigned char)p[m + 1]) && islower((unsigned char)*p))
                m += 1 + strcspn(p + m + 1, " []|");
            if (m > l && (p[m] == ']' || p[m] == '\0'))
                l = m;
            snprintf(tok[n++], sizeof tok[0], "%.*s", (int)l, p);
            p += l;
        }
    }
    return n;
}

static void
add_word(struct words *b, const char *w)
{
    if (b->len > 0)
        words_adds(b, " ");
    words_adds(b, w);
}

static void
read_usage(const char *usage, struct usage_words *u)
{
    char tok[USAGE_MAX_TOKENS][64];
    size_t n = tokenize(usage, tok, USAGE_MAX_TOKENS);
    char kind[80];
    /* A subcommand's arguments run to the next bar at its depth or the
     * bracket that closes it: "[... | export ID [md|json]]". */
    bool in_sub = false;
    int depth = 0, sub_depth = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = tok[i];
        if (strcmp(t, "[") == 0) {
            depth++;
            continue;
        }
        if (strcmp(t, "]") == 0 || strcmp(t, "|") == 0) {
            depth -= t[0] == ']';
            if (depth < sub_depth || (t[0] == '|' && depth == sub_depth))
                in_sub = false;
            continue;
        }
        if (t[0] == '-') {
            add_word(&u->opts, t);
            /* An option's argument follows it before any bracket or bar. */
            if (i + 1 < n && strchr("[]|", tok[i + 1][0]) == NULL && tok[i + 1][0] != '-') {
                i++;
                char pair[160];
                snprintf(pair, sizeof pair, "%s=%s", t,
                         strchr(tok[i], ',') ? "none" : placeholder_kind(tok[i], kind, sizeof kind));
                add_word(&u->argopts, pair);
            }
        } else if (islower((unsigned char)t[0]) && strchr(t, '|') == NULL) {
            add_word(&u->subs, t);
            words_adds(&u->subs, "=");
            in_sub = true;
            sub_depth = depth;
        } else {
            size_t l = strlen(t);
            bool repeats = l > 3 && strcmp(t + l - 3, "...") == 0;
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)(repeats ? l - 3 : l), t);
            const char *k = placeholder_kind(word, kind, sizeof kind);
            if (in_sub) {
                if (u->subs.s[u->subs.len - 1] != '=')
                    words_adds(&u->subs, ",");
                words_adds(&u->subs, k);
            } else {
                add_word(&u->pos, k);
                if (repeats)
                    words_adds(&u->pos, " +");
            }
        }
    }
}

/* The driver, the same for every command: it finds the command word, then
 * offers an option's argument, the options, a subcommand, or the kind of
 * the positional argument at the cursor.  Filled with the table's data. */
static const char bash_driver[] =
    "_caretictl_kind() {\n"
    "    case $1 in\n"
    "        models|sessions)\n"
    "            COMPREPLY=($(compgen -W \"$(command caretictl \"${_caretictl_sock[@]}\" "
    "__complete \"$1\" 2>/dev/null)\" -- \"$2\")) ;;\n"
    "        commands) COMPREPLY=($(compgen -W \"$_caretictl_commands\" -- \"$2\")) ;;\n"
    "        dirs) COMPREPLY=($(compgen -d -- \"$2\")) ;;\n"
    "        files) COMPREPLY=($(compgen -f -- \"$2\")) ;;\n"
    "        words:*) local w=${1#words:}; COMPREPLY=($(compgen -W \"${w//|/ }\" -- \"$2\")) ;;\n"
    "    esac\n"
    "}\n\n"
    "_caretictl() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    "    local i a w cmd= ci=0 n=0 sub= opts= argopts= pos= subs=\n"
    "    COMPREPLY=()\n"
    "    _caretictl_sock=()\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        case ${COMP_WORDS[i]} in\n"
    "            -s|--socket) _caretictl_sock=(--socket \"${COMP_WORDS[i+1]}\"); ((i++)) ;;\n"
    "            -*) ;;\n"
    "            *) cmd=${COMP_WORDS[i]}; ci=$i; break ;;\n"
    "        esac\n"
    "    done\n"
    "    if [[ -z $cmd ]]; then\n"
    "        case $prev in -s|--socket) _caretictl_kind files \"$cur\"; return ;; esac\n"
    "        COMPREPLY=($(compgen -W \"$_caretictl_commands $_caretictl_global\" -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    _caretictl_command \"$cmd\" || return\n"
    "    argopts+=\" --socket=files\"\n"
    "    for a in $argopts; do\n"
    "        [[ $prev == \"${a%%=*}\" ]] && { _caretictl_kind \"${a#*=}\" \"$cur\"; return; }\n"
    "    done\n"
    "    if [[ $cur == -* ]]; then\n"
    "        COMPREPLY=($(compgen -W \"$opts --help --json --socket\" -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    for ((i = ci + 1; i < COMP_CWORD; i++)); do\n"
    "        w=${COMP_WORDS[i]}\n"
    "        if [[ $w == -* ]]; then\n"
    "            for a in $argopts; do [[ $w == \"${a%%=*}\" ]] && ((i++)); done\n"
    "            continue\n"
    "        fi\n"
    "        ((n == 0)) && sub=$w\n"
    "        ((n++))\n"
    "    done\n"
    "    local kinds=($pos)\n"
    "    if [[ -n $subs ]]; then\n"
    "        if ((n == 0)); then\n"
    "            COMPREPLY=($(compgen -W \"$(for a in $subs; do printf '%s ' \"${a%%=*}\"; "
    "done)\" -- \"$cur\"))\n"
    "            return\n"
    "        fi\n"
    "        kinds=()\n"
    "        for a in $subs; do [[ ${a%%=*} == \"$sub\" ]] && kinds=(${a#*=}); done\n"
    "        kinds=(${kinds[*]//,/ })\n"
    "        ((n--))\n"
    "    fi\n"
    "    if ((n >= ${#kinds[@]})) && [[ ${kinds[-1]} == + ]]; then\n"
    "        n=$((${#kinds[@]} - 2))\n"
    "    fi\n"
    "    ((n < ${#kinds[@]})) && [[ ${kinds[n]} != + ]] && _caretictl_kind \"${kinds[n]}\" "
    "\"$cur\"\n"
    "}\n\n"
    "complete -F _caretictl caretictl\n";

/* zsh: the same driver over zsh's words and CURRENT (1-based), offering
 * with compadd and _files. */
static const char zsh_driver[] =
    "_caretictl_kind() {\n"
    "    case $1 in\n"
    "        models|sessions)\n"
    "            compadd -- ${(f)\"$(command caretictl \"${_caretictl_sock[@]}\" __complete $1 "
    "2>/dev/null)\"} ;;\n"
    "        commands) compadd -- ${=_caretictl_commands} ;;\n"
    "        dirs) _files -/ ;;\n"
    "        files) _files ;;\n"
    "        words:*) local w=${1#words:}; compadd -- ${(s:|:)w} ;;\n"
    "    esac\n"
    "}\n\n"
    "_caretictl() {\n"
    "    local cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n"
    "    local i a w cmd= ci=0 n=0 sub= opts= argopts= pos= subs=\n"
    "    local -a kinds\n"
    "    typeset -ga _caretictl_sock\n"
    "    _caretictl_sock=()\n"
    "    for ((i = 2; i < CURRENT; i++)); do\n"
    "        case ${words[i]} in\n"
    "            -s|--socket) _caretictl_sock=(--socket ${words[i+1]}); ((i++)) ;;\n"
    "            -*) ;;\n"
    "            *) cmd=${words[i]}; ci=$i; break ;;\n"
    "        esac\n"
    "    done\n"
    "    if [[ -z $cmd ]]; then\n"
    "        case $prev in -s|--socket) _files; return ;; esac\n"
    "        compadd -- ${=_caretictl_commands} ${=_caretictl_global}\n"
    "        return\n"
    "    fi\n"
    "    _caretictl_command $cmd || return\n"
    "    argopts+=\" --socket=files\"\n"
    "    for a in ${=argopts}; do\n"
    "        [[ $prev == ${a%%=*} ]] && { _caretictl_kind ${a#*=}; return; }\n"
    "    done\n"
    "    if [[ $cur == -* ]]; then\n"
    "        compadd -- ${=opts} --help --json --socket\n"
    "        return\n"
    "    fi\n"
    "    for ((i = ci + 1; i < CURRENT; i++)); do\n"
    "        w=${words[i]}\n"
    "        if [[ $w == -* ]]; then\n"
    "            for a in ${=argopts}; do [[ $w == ${a%%=*} ]] && ((i++)); done\n"
    "            continue\n"
    "        fi\n"
    "        ((n == 0)) && sub=$w\n"
    "        ((n++))\n"
    "    done\n"
    "    kinds=(${=pos})\n"
    "    if [[ -n $subs ]]; then\n"
    "        if ((n == 0)); then\n"
    "            for a in ${=subs}; do compadd -- ${a%%=*}; done\n"
    "            return\n"
    "        fi\n"
    "        kinds=()\n"
    "        for a in ${=subs}; do [[ ${a%%=*} == $sub ]] && kinds=(${(s:,:)a#*=}); done\n"
    "        ((n--))\n"
    "    fi\n"
    "    if ((n >= ${#kinds})) && [[ ${kinds[-1]} == + ]]; then\n"
    "        n=$((${#kinds} - 2))\n"
    "    fi\n"
    "    ((n < ${#kinds})) && [[ ${kinds[n+1]} != + ]] && _caretictl_kind ${kinds[n+1]}\n"
    "}\n\n"
    "_caretictl \"$@\"\n";

/* Print the script for SHELL ("bash" or "zsh"): the table's data as
 * variables and one _caretictl_command function, then the driver. */
static int
print_script(const char *shell)
{
    bool zsh = strcmp(shell, "zsh") == 0;
    size_t n;
    const struct ctl_cmd *const *table = ctl_commands(&n);
    if (zsh)
        printf("#compdef caretictl\n");
    printf("# %s completion for caretictl, generated from its command table by\n"
           "# `caretictl __complete %s`: do not edit.\n\n",
           shell, shell);
    printf("_caretictl_commands='");
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", table[i]->name);
    printf("'\n_caretictl_global='--socket --json --help --version'\n\n");
    printf("_caretictl_command() {\n    case $1 in\n");
    for (size_t i = 0; i < n; i++) {
        struct usage_words u = {0};
        read_usage(table[i]->usage, &u);
        printf("        %s%s%s)\n            opts='%s'\n            argopts='%s'\n"
               "            pos='%s'\n            subs='%s' ;;\n",
               table[i]->name, table[i]->alias ? "|" : "", table[i]->alias ? table[i]->alias : "",
               u.opts.s, u.argopts.s, u.pos.s, u.subs.s);
    }
    printf("        *) return 1 ;;\n    esac\n}\n\n%s", zsh ? zsh_driver : bash_driver);
    return CTL_EXIT_OK;
}

/* The ids of the array MEMBER of GET PATH's answer, one a line. */
static int
print_ids(struct ctl_ctx *ctx, const char *path, const char *member, const char *field)
{
    json_t *ans = NULL;
    int status = ctl_request(ctx, "GET", path, NULL, &ans);
    if (status != 200) {
        json_decref(ans);
        return CTL_EXIT_ERROR;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(ans, member), i, e)
    {
        const char *id = json_string_value(json_object_get(e, field));
        if (id != NULL)
            printf("%s\n", id);
    }
    json_decref(ans);
    return CTL_EXIT_OK;
}

static int
run_complete(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argc;
    if (strcmp(argv[0], "bash") == 0 || strcmp(argv[0], "zsh") == 0)
        return print_script(argv[0]);
    if (strcmp(argv[0], "models") == 0)
        return print_ids(ctx, "/v1/models", "data", "id");
    if (strcmp(argv[0], "sessions") == 0)
        return print_ids(ctx, "/careti/v1/sessions", "sessions", "id");
    fprintf(stderr, "usage: caretictl __complete bash|zsh|models|sessions\n");
    return CTL_EXIT_USAGE;
}

const struct ctl_cmd ctl_complete_entry = {
    "__complete", NULL, "bash|zsh|models|sessions",
    "shell completion: a script, or the daemon's models or sessions", 1, 1, run_complete,
};
