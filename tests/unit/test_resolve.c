/* Unit tests for src/models/resolve.c: aliases (single and failover), the
 * name@provider form, plain names over several catalogues (first provider
 * wins, every holder a candidate), Ollama's implicit ":latest",
 * unreachable providers, suggestions for typos, and strdist(), the edit
 * distance suggestions use.
 *
 * The "fixed_bugs" TCase keeps the tests that found bugs, as regressions. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/models/resolve.c"

/* ------------------------------------------------------------------ */
/* Fixtures                                                           */
/* ------------------------------------------------------------------ */

static const char config_yaml[] = "providers:\n"
                                  "  - name: ollama\n"
                                  "    type: ollama\n"
                                  "    base_url: http://127.0.0.1:11434\n"
                                  "  - name: lmstudio\n"
                                  "    type: lmstudio\n"
                                  "    base_url: http://127.0.0.1:1234\n"
                                  "  - name: backup\n"
                                  "    type: ollama\n"
                                  "    base_url: http://127.0.0.1:11500\n"
                                  "models:\n"
                                  "  coder:\n"
                                  "    provider: [ollama, backup]\n"
                                  "    model: qwen3-coder:30b\n"
                                  "    context_length: 65536\n"
                                  "    options: { temperature: 0.7, top_k: 20 }\n"
                                  "  small:\n"
                                  "    provider: lmstudio\n"
                                  "    model: qwen3-8b\n"
                                  "    tools: text\n"
                                  "  native:\n"
                                  "    provider: lmstudio\n"
                                  "    model: qwen3-8b\n"
                                  "    tools: native\n"
                                  "  qwen3:8b:\n" /* an alias that shadows a catalogue name */
                                  "    provider: backup\n"
                                  "    model: qwen3:8b-q8_0\n"
                                  "    context_length: 4096\n"
                                  "defaults:\n"
                                  "  model: coder\n"
                                  "  context_length: 32768\n";

static struct config *cfg;
static json_t *cat_ollama, *cat_lmstudio, *cat_backup;
static struct catalogue_view views[3];

static json_t *
catalogue(const char *const *names)
{
    json_t *a = json_array();
    for (; *names != NULL; names++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "name", *names, "model", *names));
    return a;
}

static void
setup(void)
{
    char path[] = "/tmp/careti-resolve-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, config_yaml, strlen(config_yaml)), (ssize_t)strlen(config_yaml));
    close(fd);
    struct cerr err = {0};
    cfg = config_load(path, &err);
    unlink(path);
    ck_assert_msg(cfg != NULL, "config: %s", err.msg);

    static const char *const ollama[] = {"qwen3:8b",
                                         "qwen3-coder:30b",
                                         "llama3.2:latest",
                                         "nomic-embed-text:latest",
                                         "hf.co/org/repo:Q4_K_M",
                                         NULL};
    static const char *const lmstudio[] = {"qwen3-8b", "gemma-3-12b", "llama3.2", "phi-4:latest",
                                           NULL};
    static const char *const backup[] = {"qwen3:8b", "mistral:latest", NULL};
    cat_ollama = catalogue(ollama);
    cat_lmstudio = catalogue(lmstudio);
    cat_backup = catalogue(backup);
    views[0] = (struct catalogue_view){"ollama", PROVIDER_OLLAMA, cat_ollama, true, false};
    views[1] = (struct catalogue_view){"lmstudio", PROVIDER_LMSTUDIO, cat_lmstudio, true, false};
    views[2] = (struct catalogue_view){"backup", PROVIDER_OLLAMA, cat_backup, true, false};
}

static void
teardown(void)
{
    config_free(cfg);
    json_decref(cat_ollama);
    json_decref(cat_lmstudio);
    json_decref(cat_backup);
}

/* Rename alias NAME so that it no longer shadows catalogue names. */
static void
drop_alias(const char *name)
{
    for (size_t i = 0; i < cfg->n_models; i++) {
        if (strcmp(cfg->models[i].alias, name) == 0) {
            free(cfg->models[i].alias);
            cfg->models[i].alias = strdup("unused-alias");
            return;
        }
    }
    ck_abort_msg("no alias %s", name);
}

static struct resolution res;
static char suggest[512];

static enum resolve_result
resolve(const char *name)
{
    memset(suggest, 'Z', sizeof suggest); /* must be overwritten */
    suggest[sizeof suggest - 1] = '\0';
    return resolve_model(cfg, name, views, 3, &res, suggest, sizeof suggest);
}

/* The resolution has exactly the candidates "provider/model", in order. */
#define EXPECT_CANDS(...) expect_cands(__LINE__, (const char *[]){__VA_ARGS__, NULL})
static void
expect_cands(int line, const char *const *want)
{
    size_t n = 0;
    for (; want[n] != NULL; n++) {
        ck_assert_msg(n < res.n, "line %d: only %zu candidates, want %s next", line, res.n,
                      want[n]);
        char got[400];
        snprintf(got, sizeof got, "%s/%s", res.cand[n].provider, res.cand[n].model);
        ck_assert_msg(strcmp(got, want[n]) == 0, "line %d: candidate %zu is %s, want %s", line, n,
                      got, want[n]);
    }
    ck_assert_msg(res.n == n, "line %d: %zu candidates, want %zu", line, res.n, n);
}

/* ------------------------------------------------------------------ */
/* Aliases                                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_alias_failover_list)
{
    ck_assert_int_eq(resolve("coder"), RESOLVE_OK);
    EXPECT_CANDS("ollama/qwen3-coder:30b", "backup/qwen3-coder:30b");
    ck_assert_str_eq(res.name, "coder");
    ck_assert_int_eq(res.context_length, 65536);
    ck_assert_ptr_eq(res.options, cfg->models[0].options);
    ck_assert(json_is_object(res.options));
    ck_assert(json_real_value(json_object_get(res.options, "temperature")) == 0.7);
    ck_assert_int_eq(json_integer_value(json_object_get(res.options, "top_k")), 20);
    ck_assert_str_eq(suggest, "");
}
END_TEST

START_TEST(test_alias_single_uses_default_context)
{
    ck_assert_int_eq(resolve("small"), RESOLVE_OK);
    EXPECT_CANDS("lmstudio/qwen3-8b");
    ck_assert_str_eq(res.name, "small");
    ck_assert_int_eq(res.context_length, 32768); /* defaults.context_length */
    ck_assert_ptr_null(res.options);
}
END_TEST

START_TEST(test_alias_tools)
{
    /* The alias's word is carried; only native decides here, the rest is
     * the lookup's (it asks the servers). */
    ck_assert_int_eq(resolve("coder"), RESOLVE_OK);
    ck_assert_int_eq(res.tools, MODEL_TOOLS_AUTO);
    ck_assert(!res.native_tools);
    ck_assert_int_eq(resolve("small"), RESOLVE_OK);
    ck_assert_int_eq(res.tools, MODEL_TOOLS_TEXT);
    ck_assert(!res.native_tools);
    ck_assert_int_eq(resolve("native"), RESOLVE_OK);
    ck_assert_int_eq(res.tools, MODEL_TOOLS_NATIVE);
    ck_assert(res.native_tools);
    /* A name that is not an alias is auto. */
    ck_assert_int_eq(resolve("gemma-3-12b"), RESOLVE_OK);
    ck_assert_int_eq(res.tools, MODEL_TOOLS_AUTO);
    ck_assert(!res.native_tools);
}
END_TEST

START_TEST(test_alias_beats_catalogue_names)
{
    /* "qwen3:8b" is on ollama and backup, but the alias wins */
    ck_assert_int_eq(resolve("qwen3:8b"), RESOLVE_OK);
    EXPECT_CANDS("backup/qwen3:8b-q8_0");
    ck_assert_int_eq(res.context_length, 4096);
}
END_TEST

START_TEST(test_alias_does_not_need_catalogue_or_reachability)
{
    /* failover is decided when connecting; the alias lists both anyway */
    views[0].reachable = false;
    views[2].reachable = false;
    json_array_clear(cat_ollama);
    ck_assert_int_eq(resolve("coder"), RESOLVE_OK);
    EXPECT_CANDS("ollama/qwen3-coder:30b", "backup/qwen3-coder:30b");
}
END_TEST

START_TEST(test_alias_missing_from_complete_catalogues)
{
    for (size_t i = 0; i < 3; i++)
        views[i].complete = true;
    ck_assert_int_eq(resolve("coder"), RESOLVE_OK);
    ck_assert(res.alias && res.is_default);
    ck_assert_int_eq(resolve("small"), RESOLVE_OK);
    ck_assert(res.alias && !res.is_default);
    /* neither ollama nor backup has it: NOT_FOUND, targets kept for the message */
    json_array_clear(cat_ollama);
    ck_assert_int_eq(resolve(""), RESOLVE_NOT_FOUND);
    ck_assert(res.alias && res.is_default);
    EXPECT_CANDS("ollama/qwen3-coder:30b", "backup/qwen3-coder:30b");
    /* a server that is down, or lists only what it loaded, gets the request */
    views[2].reachable = false;
    ck_assert_int_eq(resolve("coder"), RESOLVE_OK);
    views[2].reachable = true;
    views[0].complete = false;
    ck_assert_int_eq(resolve("coder"), RESOLVE_OK);
}
END_TEST

START_TEST(test_empty_name_is_default_model)
{
    ck_assert_int_eq(resolve(""), RESOLVE_OK);
    ck_assert_str_eq(res.name, "coder");
    EXPECT_CANDS("ollama/qwen3-coder:30b", "backup/qwen3-coder:30b");
    ck_assert_int_eq(res.context_length, 65536);
    ck_assert_int_eq(resolve(NULL), RESOLVE_OK);
    ck_assert_str_eq(res.name, "coder");
    EXPECT_CANDS("ollama/qwen3-coder:30b", "backup/qwen3-coder:30b");

    /* a default that is a catalogue name, not an alias */
    free(cfg->defaults.model);
    cfg->defaults.model = strdup("gemma-3-12b");
    ck_assert_int_eq(resolve(""), RESOLVE_OK);
    ck_assert_str_eq(res.name, "gemma-3-12b");
    EXPECT_CANDS("lmstudio/gemma-3-12b");
    ck_assert_int_eq(res.context_length, 32768);
    ck_assert_ptr_null(res.options);
}
END_TEST

/* ------------------------------------------------------------------ */
/* name@provider                                                      */
/* ------------------------------------------------------------------ */

START_TEST(test_at_provider_found)
{
    ck_assert_int_eq(resolve("qwen3:8b@ollama"), RESOLVE_OK);
    EXPECT_CANDS("ollama/qwen3:8b");
    ck_assert_str_eq(res.name, "qwen3:8b@ollama");
    ck_assert_int_eq(res.context_length, 32768);
    ck_assert_ptr_null(res.options);

    ck_assert_int_eq(resolve("qwen3-8b@lmstudio"), RESOLVE_OK);
    EXPECT_CANDS("lmstudio/qwen3-8b");
    /* implicit :latest on an Ollama provider, not on LM Studio */
    ck_assert_int_eq(resolve("llama3.2@ollama"), RESOLVE_OK);
    EXPECT_CANDS("ollama/llama3.2:latest");
    ck_assert_int_eq(resolve("llama3.2@lmstudio"), RESOLVE_OK);
    EXPECT_CANDS("lmstudio/llama3.2");
    ck_assert_int_eq(resolve("mistral@backup"), RESOLVE_OK);
    EXPECT_CANDS("backup/mistral:latest");
    /* an alias name used with @ is a model name on that provider */
    ck_assert_int_eq(resolve("coder@ollama"), RESOLVE_NOT_FOUND);
}
END_TEST

START_TEST(test_at_provider_not_in_that_catalogue)
{
    /* on backup and lmstudio, but not on ollama */
    ck_assert_int_eq(resolve("mistral@ollama"), RESOLVE_NOT_FOUND);
    ck_assert_uint_eq(res.n, 0);
    ck_assert_int_eq(resolve("qwen3:7b@ollama"), RESOLVE_NOT_FOUND);
    /* suggestions come from that provider only */
    ck_assert_msg(strstr(suggest, "qwen3:8b (ollama)") != NULL, "suggest \"%s\"", suggest);
    ck_assert_msg(strstr(suggest, "(backup)") == NULL && strstr(suggest, "(lmstudio)") == NULL,
                  "suggest \"%s\"", suggest);
    /* no implicit :latest on LM Studio */
    ck_assert_int_eq(resolve("phi-4@lmstudio"), RESOLVE_NOT_FOUND);
    ck_assert_msg(strstr(suggest, "phi-4:latest (lmstudio)") != NULL, "suggest \"%s\"", suggest);
    ck_assert_int_eq(resolve("phi-4:latest@lmstudio"), RESOLVE_OK);
    EXPECT_CANDS("lmstudio/phi-4:latest");
}
END_TEST

START_TEST(test_at_unknown_provider)
{
    ck_assert_int_eq(resolve("qwen3:8b@nowhere"), RESOLVE_BAD_PROVIDER);
    ck_assert_uint_eq(res.n, 0);
    ck_assert_str_eq(res.name, "qwen3:8b@nowhere");
    ck_assert_int_eq(resolve("qwen3:8b@Ollama"), RESOLVE_BAD_PROVIDER); /* names are exact */
    /* the last @ separates the provider */
    ck_assert_int_eq(resolve("a@b@ollama"), RESOLVE_NOT_FOUND);
    /* "@" first or last is no provider form: a plain (unknown) name */
    ck_assert_int_eq(resolve("qwen3:8b@"), RESOLVE_NOT_FOUND);
    ck_assert_int_eq(resolve("@ollama"), RESOLVE_NOT_FOUND);
}
END_TEST

START_TEST(test_at_unreachable_provider_is_tried_as_named)
{
    views[2].reachable = false;
    json_array_clear(cat_backup);
    ck_assert_int_eq(resolve("qwen3@backup"), RESOLVE_OK);
    EXPECT_CANDS("backup/qwen3");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Plain names                                                        */
/* ------------------------------------------------------------------ */

START_TEST(test_plain_name_first_provider_wins)
{
    ck_assert_int_eq(resolve("qwen3-coder:30b"), RESOLVE_OK);
    EXPECT_CANDS("ollama/qwen3-coder:30b");
    ck_assert_str_eq(res.name, "qwen3-coder:30b");
    ck_assert_int_eq(res.context_length, 32768);
    ck_assert_ptr_null(res.options);

    ck_assert_int_eq(resolve("hf.co/org/repo:Q4_K_M"), RESOLVE_OK);
    EXPECT_CANDS("ollama/hf.co/org/repo:Q4_K_M");

    /* on two providers: both are candidates, in provider order */
    drop_alias("qwen3:8b");
    ck_assert_int_eq(resolve("qwen3:8b"), RESOLVE_OK);
    EXPECT_CANDS("ollama/qwen3:8b", "backup/qwen3:8b");
    struct catalogue_view swapped[3] = {views[2], views[1], views[0]};
    ck_assert_int_eq(resolve_model(cfg, "qwen3:8b", swapped, 3, &res, suggest, sizeof suggest),
                     RESOLVE_OK);
    EXPECT_CANDS("backup/qwen3:8b", "ollama/qwen3:8b");
}
END_TEST

START_TEST(test_implicit_latest_only_for_ollama)
{
    /* "llama3.2": ollama has llama3.2:latest, LM Studio has llama3.2 */
    ck_assert_int_eq(resolve("llama3.2"), RESOLVE_OK);
    EXPECT_CANDS("ollama/llama3.2:latest", "lmstudio/llama3.2");
    ck_assert_int_eq(resolve("mistral"), RESOLVE_OK);
    EXPECT_CANDS("backup/mistral:latest");
    ck_assert_int_eq(resolve("llama3.2:latest"), RESOLVE_OK);
    EXPECT_CANDS("ollama/llama3.2:latest");
    /* LM Studio's "phi-4:latest" is not "phi-4" */
    ck_assert_int_eq(resolve("phi-4"), RESOLVE_NOT_FOUND);
    ck_assert_int_eq(resolve("phi-4:latest"), RESOLVE_OK);
    EXPECT_CANDS("lmstudio/phi-4:latest");
    /* a name with a tag gets no other tag */
    ck_assert_int_eq(resolve("mistral:7b"), RESOLVE_NOT_FOUND);
    /* an OpenAI-type provider is like LM Studio here */
    views[1].type = PROVIDER_OPENAI;
    ck_assert_int_eq(resolve("phi-4"), RESOLVE_NOT_FOUND);
}
END_TEST

START_TEST(test_unreachable_providers_skipped)
{
    drop_alias("qwen3:8b");
    views[0].reachable = false; /* its catalogue snapshot is stale */
    ck_assert_int_eq(resolve("qwen3:8b"), RESOLVE_OK);
    EXPECT_CANDS("backup/qwen3:8b");
    ck_assert_int_eq(resolve("llama3.2"), RESOLVE_OK);
    EXPECT_CANDS("lmstudio/llama3.2");
    /* on no catalogue at all, reachable or not */
    ck_assert_int_eq(resolve("qwen3-coder:31b"), RESOLVE_NOT_FOUND);
}
END_TEST

START_TEST(test_all_unreachable)
{
    for (int i = 0; i < 3; i++)
        views[i].reachable = false;
    ck_assert_int_eq(resolve("gemma-3-12b"), RESOLVE_UNREACHABLE);
    ck_assert_uint_eq(res.n, 0);
    ck_assert_int_eq(resolve("no-such-model"), RESOLVE_UNREACHABLE);
    ck_assert_int_eq(resolve_model(cfg, "x", views, 0, &res, suggest, sizeof suggest),
                     RESOLVE_UNREACHABLE);
    /* an alias still resolves: it names its providers itself */
    ck_assert_int_eq(resolve("small"), RESOLVE_OK);
}
END_TEST

START_TEST(test_candidates_capped)
{
    struct catalogue_view many[RESOLVE_MAX_CANDIDATES + 2];
    char names[RESOLVE_MAX_CANDIDATES + 2][16];
    for (size_t i = 0; i < RESOLVE_MAX_CANDIDATES + 2; i++) {
        snprintf(names[i], sizeof names[i], "p%zu", i);
        many[i] = (struct catalogue_view){names[i], PROVIDER_OLLAMA, cat_backup, true, false};
    }
    ck_assert_int_eq(resolve_model(cfg, "mistral", many, RESOLVE_MAX_CANDIDATES + 2, &res, suggest,
                                   sizeof suggest),
                     RESOLVE_OK);
    ck_assert_uint_eq(res.n, RESOLVE_MAX_CANDIDATES);
    ck_assert_str_eq(res.cand[0].provider, "p0");
    ck_assert_str_eq(res.cand[RESOLVE_MAX_CANDIDATES - 1].provider, "p7");
}
END_TEST

START_TEST(test_long_names_do_not_overflow)
{
    char name[600];
    memset(name, 'q', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    ck_assert_int_eq(resolve(name), RESOLVE_NOT_FOUND);
    ck_assert_uint_eq(strlen(res.name), sizeof res.name - 1);
    ck_assert_str_eq(suggest, "");
    memcpy(name + 300, "@ollama", 8);
    ck_assert_int_eq(resolve(name), RESOLVE_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Suggestions                                                        */
/* ------------------------------------------------------------------ */

START_TEST(test_suggestions_close_names)
{
    ck_assert_int_eq(resolve("qwen3:7b"), RESOLVE_NOT_FOUND);
    ck_assert_uint_eq(res.n, 0);
    ck_assert_str_eq(res.name, "qwen3:7b");
    /* closest first, "name (provider)", comma-separated */
    ck_assert_msg(strncmp(suggest, "qwen3:8b (ollama), ", 19) == 0, "suggest \"%s\"", suggest);
    ck_assert_msg(strstr(suggest, "qwen3:8b (backup)") != NULL, "suggest \"%s\"", suggest);
    ck_assert_msg(strstr(suggest, "gemma") == NULL && strstr(suggest, "nomic") == NULL,
                  "far names suggested: \"%s\"", suggest);

    ck_assert_int_eq(resolve("gema-3-12b"), RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "gemma-3-12b (lmstudio)");

    ck_assert_int_eq(resolve("mistral:lates"), RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "mistral:latest (backup)");
}
END_TEST

/* Aliases are suggested too; a typo of any suggested name is a near miss
 * (no point fetching it), another tag of an installed model is not. */
START_TEST(test_suggestions_aliases_and_near_misses)
{
    ck_assert_int_eq(resolve("codr"), RESOLVE_NOT_FOUND);
    ck_assert_msg(strstr(suggest, "coder (alias)") != NULL, "suggest \"%s\"", suggest);
    ck_assert(res.near_miss);
    ck_assert_int_eq(resolve("smal"), RESOLVE_NOT_FOUND);
    ck_assert_msg(strstr(suggest, "small (alias)") != NULL, "suggest \"%s\"", suggest);
    ck_assert_int_eq(resolve("gema-3-12b"), RESOLVE_NOT_FOUND);
    ck_assert(res.near_miss);
    ck_assert_int_eq(resolve("qwen3-coder:480b"), RESOLVE_NOT_FOUND);
    ck_assert(!res.near_miss);
    ck_assert_msg(strstr(suggest, "qwen3-coder:30b (ollama)") != NULL, "suggest \"%s\"", suggest);
    ck_assert_int_eq(resolve("deepseek-r1:8b"), RESOLVE_NOT_FOUND);
    ck_assert(!res.near_miss);
    /* another size or version, not a typo */
    ck_assert_int_eq(resolve("gemma-3-4b"), RESOLVE_NOT_FOUND);
    ck_assert(!res.near_miss);
    ck_assert_int_eq(resolve("llama3.3"), RESOLVE_NOT_FOUND);
    ck_assert(!res.near_miss);
}
END_TEST

/* A typo in a name without a tag finds the Ollama model it meant, even
 * though "mistrall" is 7 edits from "mistral:latest". */
START_TEST(test_suggestions_untagged_typo_finds_latest)
{
    ck_assert_int_eq(resolve("mistrall"), RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "mistral:latest (backup)");
    views[1].reachable = false;
    json_array_clear(cat_lmstudio); /* only Ollama's llama3.2:latest remains */
    ck_assert_int_eq(resolve("lama3.2"), RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "llama3.2:latest (ollama)");
}
END_TEST

START_TEST(test_suggestions_at_most_three)
{
    static const char *const names[] = {"coder-v1", "coder-v2", "coder-v3", "coder-v4",
                                        "coder-v5", "zzzzzzzz", NULL};
    json_t *cat = catalogue(names);
    struct catalogue_view v = {"lab", PROVIDER_LMSTUDIO, cat, true, false};
    ck_assert_int_eq(resolve_model(cfg, "coder-v0", &v, 1, &res, suggest, sizeof suggest),
                     RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "coder-v1 (lab), coder-v2 (lab), coder-v3 (lab)");
    /* a closer one later in the catalogue comes first */
    json_array_append_new(cat, json_pack("{s:s}", "name", "coder-v00"));
    ck_assert_int_eq(resolve_model(cfg, "coder-v0", &v, 1, &res, suggest, sizeof suggest),
                     RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "coder-v00 (lab), coder-v1 (lab), coder-v2 (lab)");
    json_decref(cat);
}
END_TEST

START_TEST(test_far_names_not_suggested)
{
    ck_assert_int_eq(resolve("deepseek-r1:70b"), RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "");
    ck_assert_int_eq(resolve("xyzzy"), RESOLVE_NOT_FOUND);
    ck_assert_str_eq(suggest, "");
    /* entries without a name are skipped, not crashed on */
    json_array_append_new(cat_ollama, json_pack("{s:i}", "size", 5));
    json_array_append_new(cat_ollama, json_string("qwen3:8b"));
    ck_assert_int_eq(resolve("qwen3:9b"), RESOLVE_NOT_FOUND);
    ck_assert_msg(strstr(suggest, "qwen3:8b (ollama)") != NULL, "suggest \"%s\"", suggest);
}
END_TEST

START_TEST(test_suggestions_fit_the_buffer)
{
    char small[24];
    memset(small, 'Z', sizeof small);
    ck_assert_int_eq(resolve_model(cfg, "qwen3:7b", views, 3, &res, small, sizeof small),
                     RESOLVE_NOT_FOUND);
    ck_assert_msg(memchr(small, '\0', sizeof small) != NULL, "not NUL-terminated");
    ck_assert_msg(strncmp(small, "qwen3:8b (ollama)", 17) == 0, "suggest \"%s\"", small);
}
END_TEST

/* ------------------------------------------------------------------ */
/* strdist (resolve_distance moved to src/core/strdist.c)                  */
/* ------------------------------------------------------------------ */

START_TEST(test_strdist)
{
    ck_assert_uint_eq(strdist("", ""), 0);
    ck_assert_uint_eq(strdist("abc", ""), 3);
    ck_assert_uint_eq(strdist("", "abcd"), 4);
    ck_assert_uint_eq(strdist("qwen3:8b", "qwen3:8b"), 0);
    ck_assert_uint_eq(strdist("kitten", "sitting"), 3);
    ck_assert_uint_eq(strdist("sitting", "kitten"), 3);
    ck_assert_uint_eq(strdist("flaw", "lawn"), 2);
    ck_assert_uint_eq(strdist("qwen3:7b", "qwen3:8b"), 1);
    ck_assert_uint_eq(strdist("mistral", "mistral:latest"), 7);
    ck_assert_uint_eq(strdist("ab", "ba"), 2); /* no transpositions */
    char a[257], b[257];
    memset(a, 'a', 256);
    memset(b, 'a', 256);
    a[255] = b[255] = '\0';
    b[0] = 'b';
    ck_assert_uint_eq(strdist(a, b), 1); /* 255 bytes: still measured */
    ck_assert_uint_eq(strdist(a, ""), 255);
    a[255] = 'a';
    a[256] = '\0';
    ck_assert_uint_eq(strdist(a, b), SIZE_MAX);
    ck_assert_uint_eq(strdist("x", a), SIZE_MAX);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bugs these tests found, since fixed: kept as regression tests      */
/* ------------------------------------------------------------------ */

/* BUG: when the suggestion list does not fit SUGGEST_LEN, the entry that
 * does not fit is left half-written ("qwen3:8b (ollama), qwen3-8b (l")
 * instead of being dropped: snprintf has already written it when the
 * loop breaks. */
START_TEST(test_bug_suggestion_cut_mid_entry)
{
    char small[30];
    ck_assert_int_eq(resolve_model(cfg, "qwen3:7b", views, 3, &res, small, sizeof small),
                     RESOLVE_NOT_FOUND);
    ck_assert_str_eq(small, "qwen3:8b (ollama)");
}
END_TEST

/* BUG: a model whose provider is down (its last catalogue still lists
 * it) and which no reachable provider has is answered RESOLVE_NOT_FOUND,
 * with the very name suggested from the unreachable provider's stale
 * catalogue: the client gets 404 "model 'qwen3-coder:30b' not found ...;
 * closest: qwen3-coder:30b (ollama)" instead of being told that ollama is
 * down.  Expected RESOLVE_UNREACHABLE (no provider that could have it
 * answered), or at least no suggestion of the name itself. */
START_TEST(test_bug_model_on_down_provider_is_not_found)
{
    drop_alias("qwen3:8b");
    views[0].reachable = false; /* still lists qwen3-coder:30b */
    enum resolve_result rr = resolve("qwen3-coder:30b");
    ck_assert_msg(rr == RESOLVE_UNREACHABLE, "result %d, suggest \"%s\"", rr, suggest);
}
END_TEST

/* Regression tests for bugs found by these tests and since fixed. */
static void
add_fixed_bugs(Suite *s)
{
    TCase *tc = tcase_create("fixed_bugs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bug_suggestion_cut_mid_entry);
    tcase_add_test(tc, test_bug_model_on_down_provider_is_not_found);
    suite_add_tcase(s, tc);
}

int
main(void)
{
    Suite *s = suite_create("resolve");
    TCase *tc = tcase_create("resolve");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_alias_failover_list);
    tcase_add_test(tc, test_alias_tools);
    tcase_add_test(tc, test_alias_single_uses_default_context);
    tcase_add_test(tc, test_alias_beats_catalogue_names);
    tcase_add_test(tc, test_alias_does_not_need_catalogue_or_reachability);
    tcase_add_test(tc, test_empty_name_is_default_model);
    tcase_add_test(tc, test_at_provider_found);
    tcase_add_test(tc, test_at_provider_not_in_that_catalogue);
    tcase_add_test(tc, test_at_unknown_provider);
    tcase_add_test(tc, test_at_unreachable_provider_is_tried_as_named);
    tcase_add_test(tc, test_plain_name_first_provider_wins);
    tcase_add_test(tc, test_implicit_latest_only_for_ollama);
    tcase_add_test(tc, test_unreachable_providers_skipped);
    tcase_add_test(tc, test_all_unreachable);
    tcase_add_test(tc, test_candidates_capped);
    tcase_add_test(tc, test_long_names_do_not_overflow);
    tcase_add_test(tc, test_suggestions_close_names);
    tcase_add_test(tc, test_suggestions_untagged_typo_finds_latest);
    tcase_add_test(tc, test_suggestions_at_most_three);
    tcase_add_test(tc, test_far_names_not_suggested);
    tcase_add_test(tc, test_suggestions_fit_the_buffer);
    tcase_add_test(tc, test_strdist);
    tcase_add_test(tc, test_alias_missing_from_complete_catalogues);
    tcase_add_test(tc, test_suggestions_aliases_and_near_misses);
    suite_add_tcase(s, tc);

    add_fixed_bugs(s);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
