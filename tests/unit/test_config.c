/* Unit tests for config loading (src/config/config.c): the example file, the
 * built-in defaults, and each class of error with its line:column. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/config/config.c"

static char tmp_path[64];

static const char *
write_yaml(const char *text)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/careti-test-XXXXXX");
    int fd = mkstemp(tmp_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return tmp_path;
}

/* Load TEXT, expect failure, and check the message contains WANT. */
static void
expect_error(const char *text, const char *want)
{
    struct cerr err = {0};
    const char *path = write_yaml(text);
    struct config *cfg = config_load(path, &err);
    unlink(path);
    ck_assert_msg(cfg == NULL, "loaded although it should fail with: %s", want);
    ck_assert_msg(strstr(err.msg, want) != NULL, "error \"%s\" lacks \"%s\"", err.msg, want);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "error does not name the file");
}

static struct config *
load_ok(const char *text)
{
    struct cerr err = {0};
    const char *path = write_yaml(text);
    struct config *cfg = config_load(path, &err);
    unlink(path);
    ck_assert_msg(cfg != NULL, "load failed: %s", err.msg);
    return cfg;
}

START_TEST(test_example_file_loads)
{
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    setenv("HOME", "/home/u", 1);
    struct cerr err = {0};
    struct config *cfg = config_load("config/caretid.yaml", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    ck_assert_str_eq(cfg->daemon.socket, "/run/user/1000/careti/caretid.sock");
    ck_assert_uint_eq(cfg->daemon.n_listen, 1);
    ck_assert_str_eq(cfg->daemon.listen[0], "127.0.0.1:11435");
    ck_assert_str_eq(cfg->daemon.state_dir, "/home/u/.local/state/careti");
    ck_assert_int_eq(cfg->daemon.log_level, LOG_LEVEL_INFO);
    ck_assert_int_eq(cfg->daemon.max_body_bytes, 67108864);
    ck_assert_int_eq(cfg->daemon.shutdown_grace_s, 10);
    ck_assert_uint_eq(cfg->n_providers, 2);
    ck_assert_str_eq(cfg->providers[0].name, "ollama");
    ck_assert_int_eq(cfg->providers[0].type, PROVIDER_OLLAMA);
    ck_assert_int_eq(cfg->providers[0].timeouts.first_byte_s, 600);
    ck_assert_int_eq(cfg->providers[0].timeouts.idle_s, 120);
    ck_assert_int_eq(cfg->providers[1].type, PROVIDER_LMSTUDIO);
    ck_assert_str_eq(cfg->providers[1].api_key, "");
    ck_assert_int_eq(cfg->providers[1].timeouts.connect_s, 5); /* default */
    ck_assert_uint_eq(cfg->n_models, 1);
    ck_assert_str_eq(cfg->models[0].alias, "coder");
    ck_assert_str_eq(cfg->models[0].providers[0], "ollama");
    ck_assert_str_eq(cfg->models[0].model, "qwen3-coder:30b");
    ck_assert_int_eq(cfg->models[0].context_length, 262144);
    ck_assert_str_eq(cfg->defaults.model, "coder");
    ck_assert_int_eq(cfg->defaults.context_length, 262144);
    ck_assert(cfg->defaults.compact_prompt);
    config_free(cfg);
}
END_TEST

START_TEST(test_builtin_defaults)
{
    struct cerr err = {0};
    setenv("XDG_RUNTIME_DIR", "/run/user/5", 1);
    struct config *cfg = config_load(NULL, &err);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_null(cfg->path);
    ck_assert_str_eq(cfg->daemon.socket, "/run/user/5/careti/caretid.sock");
    ck_assert_uint_eq(cfg->daemon.n_listen, 0);
    ck_assert_uint_eq(cfg->n_providers, 2);
    ck_assert_str_eq(cfg->providers[0].base_url, "http://127.0.0.1:11434");
    ck_assert_str_eq(cfg->providers[1].base_url, "http://127.0.0.1:1234");
    ck_assert_int_eq(cfg->defaults.context_length, 262144);
    ck_assert_str_eq(cfg->defaults.model, "qwen3-coder:30b");
    ck_assert_int_eq(cfg->daemon.max_body_bytes, 64 << 20);
    config_free(cfg);
}
END_TEST

START_TEST(test_empty_file_is_defaults)
{
    struct config *cfg = load_ok("");
    ck_assert_uint_eq(cfg->n_providers, 2);
    config_free(cfg);
    cfg = load_ok("daemon:\n");
    ck_assert_int_eq(cfg->daemon.shutdown_grace_s, 10);
    ck_assert_int_eq(cfg->daemon.request_log_days, 90);
    config_free(cfg);
    cfg = load_ok("daemon:\n  request_log_days: 0\n");
    ck_assert_int_eq(cfg->daemon.request_log_days, 0);
    config_free(cfg);
}
END_TEST

START_TEST(test_unknown_key_suggests)
{
    expect_error("daemon:\n  log_levle: debug\n", ":2:3: daemon.log_levle: unknown key; did you mean \"log_level\"?");
    expect_error("demon:\n  socket: /x\n", ":1:1: demon: unknown key; did you mean \"daemon\"?");
    expect_error("daemon:\n  zzzzzzzz: 1\n", ":2:3: daemon.zzzzzzzz: unknown key");
    expect_error("providers:\n  - name: a\n    type: ollama\n    base_url: http://h\n    timeout: {}\n",
                 ":5:5: providers[0].timeout: unknown key; did you mean \"timeouts\"?");
}
END_TEST

START_TEST(test_type_errors)
{
    expect_error("daemon:\n  max_body_bytes: lots\n", ":2:19: daemon.max_body_bytes: expected an integer");
    expect_error("daemon:\n  max_body_bytes: \"1024\"\n", "daemon.max_body_bytes: expected an integer");
    expect_error("daemon:\n  shutdown_grace_s: -1\n", "expected an integer from 0 to 3600");
    expect_error("daemon:\n  request_log_days: 1.5\n",
                 "daemon.request_log_days: expected an integer from 0 to 36500");
    expect_error("daemon:\n  allow_remote: maybe\n", ":2:17: daemon.allow_remote: expected true or false");
    expect_error("daemon:\n  log_level: loud\n", "expected error, warn, info or debug");
    expect_error("daemon:\n  socket: [a, b]\n", ":2:11: daemon.socket: expected a single value");
    expect_error("daemon: 5\n", ":1:9: daemon: expected a mapping");
    expect_error("daemon:\n  listen: {a: 1}\n", "daemon.listen: expected a list of strings");
    expect_error("providers: {name: x}\n", "providers: expected a list of providers");
    expect_error("models:\n  c:\n    provider: ollama\n    model: m\n    options: 3\n",
                 "models.c.options: expected a mapping");
}
END_TEST

/* A variable in a path names itself, and tells "set but empty" from "not
 * set": `export X=` and a missing export need different fixes.  An XDG
 * variable that is empty takes its default, as the XDG spec says. */
START_TEST(test_path_variables)
{
    unsetenv("CARETI_TEST_DIR");
    expect_error("daemon:\n  state_dir: ${CARETI_TEST_DIR}/state\n",
                 ":2:14: daemon.state_dir: cannot expand \"${CARETI_TEST_DIR}/state\": "
                 "${CARETI_TEST_DIR} is not set");
    setenv("CARETI_TEST_DIR", "", 1);
    expect_error("daemon:\n  state_dir: ${CARETI_TEST_DIR}/state\n",
                 ":2:14: daemon.state_dir: cannot expand \"${CARETI_TEST_DIR}/state\": "
                 "${CARETI_TEST_DIR} is set but empty");
    setenv("CARETI_TEST_DIR", "/srv/careti", 1);
    struct config *cfg = load_ok("daemon:\n  state_dir: ${CARETI_TEST_DIR}/state\n");
    ck_assert_str_eq(cfg->daemon.state_dir, "/srv/careti/state");
    config_free(cfg);
    setenv("HOME", "/home/u", 1);
    setenv("XDG_STATE_HOME", "", 1);
    cfg = load_ok("daemon:\n  state_dir: ${XDG_STATE_HOME}/careti\n");
    ck_assert_str_eq(cfg->daemon.state_dir, "/home/u/.local/state/careti");
    config_free(cfg);
    unsetenv("CARETI_TEST_DIR");
}
END_TEST

START_TEST(test_yaml_syntax_error)
{
    expect_error("daemon:\n  socket: \"unterminated\n", ":3:1: YAML syntax error");
    expect_error("daemon:\n  - a\n  b: c\n", "YAML syntax error");
}
END_TEST

START_TEST(test_structure_errors)
{
    expect_error("daemon:\n  socket: /a\n  socket: /b\n", ":3:3: daemon.socket: key given twice");
    expect_error("providers:\n  - name: a\n    base_url: http://x\n",
                 ":2:5: providers[0].type: required key is missing");
    expect_error("providers:\n  - {name: a, type: ollama, base_url: http://x}\n"
                 "  - {name: a, type: openai, base_url: http://y}\n",
                 ":3:6: providers[1].name: provider \"a\" is defined twice");
    expect_error("providers:\n  - {name: a, type: ollama, base_url: ftp://x}\n",
                 "providers[0].base_url: \"ftp://x\" must start with http:// or https://");
    expect_error("providers:\n  - {name: a, type: openai, base_url: \"https://me:pw@x/v1\"}\n",
                 "providers[0].base_url: a user name or password in base_url is not supported");
    expect_error("providers:\n  - {name: a, type: openai, base_url: https://x, ca_file: /nonexistent}\n",
                 "providers[0].ca_file: cannot read /nonexistent: No such file or directory");
    config_free(load_ok("providers:\n  - {name: a, type: openai, base_url: \"http://x/v1?key=a@b\"}\n"));
    expect_error("models:\n  c:\n    provider: nowhere\n    model: m\n",
                 ":3:5: models.c.provider: no provider is named \"nowhere\"");
    expect_error("models:\n  c:\n    provider: ollama\n", "models.c.model: required key is missing");
}
END_TEST

START_TEST(test_listen_policy)
{
    expect_error("daemon:\n  listen: [\"0.0.0.0:8080\"]\n",
                 ":2:3: daemon.listen: \"0.0.0.0:8080\" is not a loopback address");
    expect_error("daemon:\n  listen: [\"192.168.1.2:8080\"]\n  allow_remote: true\n",
                 "daemon.allow_remote: allow_remote needs daemon.auth_token");
    expect_error("daemon:\n  listen: [\"nonsense\"]\n", "\"nonsense\" is not host:port");
    expect_error("daemon:\n  listen: [\"127.0.0.1:70000\"]\n", "is not host:port");
    struct config *cfg = load_ok("daemon:\n  listen: [\"0.0.0.0:0\"]\n  allow_remote: true\n"
                                 "  auth_token: s3cret\n");
    ck_assert(cfg->daemon.allow_remote);
    ck_assert_str_eq(cfg->daemon.auth_token, "s3cret");
    config_free(cfg);
    cfg = load_ok("daemon:\n  listen: [\"[::1]:0\", \"localhost:1\", \"127.9.9.9:2\"]\n");
    ck_assert_uint_eq(cfg->daemon.n_listen, 3);
    config_free(cfg);
}
END_TEST

START_TEST(test_listen_parse)
{
    char host[64];
    int port;
    ck_assert_int_eq(config_listen_parse("127.0.0.1:11435", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 11435);
    ck_assert_int_eq(config_listen_parse("[::1]:80", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(config_listen_parse("::1:80", host, sizeof host, &port), -EINVAL);
    ck_assert_int_eq(config_listen_parse(":80", host, sizeof host, &port), -EINVAL);
    ck_assert_int_eq(config_listen_parse("h:", host, sizeof host, &port), -EINVAL);
    ck_assert_int_eq(config_listen_parse("h:-1", host, sizeof host, &port), -EINVAL);
    ck_assert(config_host_is_loopback("127.0.0.1"));
    ck_assert(config_host_is_loopback("127.255.0.1"));
    ck_assert(config_host_is_loopback("::1"));
    ck_assert(config_host_is_loopback("localhost"));
    ck_assert(!config_host_is_loopback("0.0.0.0"));
    ck_assert(!config_host_is_loopback("::"));
    ck_assert(!config_host_is_loopback("10.0.0.1"));
    ck_assert(!config_host_is_loopback("example.com"));
}
END_TEST

START_TEST(test_models_and_options)
{
    struct config *cfg = load_ok(
        "providers:\n  - {name: a, type: ollama, base_url: http://a}\n"
        "  - {name: b, type: openai, base_url: https://b/v1, api_key: k}\n"
        "models:\n  fast:\n    provider: [a, b]\n    model: m:7b\n"
        "    options: {temperature: 0.5, num_gpu: 99, stop: [\"x\"], mirostat: off, tag: \"1\"}\n");
    ck_assert_uint_eq(cfg->models[0].n_providers, 2);
    ck_assert_str_eq(cfg->models[0].providers[1], "b");
    ck_assert_int_eq(cfg->models[0].context_length, 0);
    json_t *o = cfg->models[0].options;
    ck_assert(json_is_real(json_object_get(o, "temperature")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "num_gpu")), 99);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "stop"), 0)), "x");
    ck_assert(json_is_false(json_object_get(o, "mirostat")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "tag")), "1");
    ck_assert_ptr_nonnull(config_provider_find(cfg, "b"));
    ck_assert_ptr_null(config_provider_find(cfg, "c"));
    config_free(cfg);
}
END_TEST

START_TEST(test_missing_file)
{
    struct cerr err = {0};
    ck_assert_ptr_null(config_load("/nonexistent/caretid.yaml", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/caretid.yaml: cannot read the config file (No such file"));
}
END_TEST

START_TEST(test_dump_redacts_secrets)
{
    struct config *cfg = load_ok("daemon:\n  listen: [\"0.0.0.0:0\"]\n  allow_remote: true\n"
                                 "  auth_token: tokentoken\n"
                                 "providers:\n  - {name: a, type: openai, base_url: http://a, api_key: sk-secret}\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_dump(cfg, f);
    fclose(f);
    ck_assert_ptr_null(strstr(buf, "tokentoken"));
    ck_assert_ptr_null(strstr(buf, "sk-secret"));
    ck_assert_ptr_nonnull(strstr(buf, "<redacted>"));
    /* The dump is itself a valid config once secrets are put back. */
    config_free(cfg);
    free(buf);
}
END_TEST


START_TEST(test_agent_defaults)
{
    struct config *cfg = load_ok("");
    ck_assert_int_eq(cfg->agent.max_steps, 50);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_READ], APPROVAL_AUTO);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_EDIT], APPROVAL_ASK);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_COMMAND], APPROVAL_ASK);
    ck_assert(cfg->agent.sandbox);
    ck_assert_int_eq(cfg->agent.command_timeout_s, 120);
    ck_assert_int_eq(cfg->agent.approval_timeout_s, 600);
    config_free(cfg);
    /* The built-in defaults are the same. */
    struct cerr err = {0};
    cfg = config_load(NULL, &err);
    ck_assert_int_eq(cfg->agent.max_steps, 50);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_EDIT], APPROVAL_ASK);
    ck_assert(cfg->agent.sandbox);
    config_free(cfg);
    /* A partial approvals block keeps the others' defaults. */
    cfg = load_ok("agent:\n  approvals:\n    command: deny\n");
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_READ], APPROVAL_AUTO);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_EDIT], APPROVAL_ASK);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_COMMAND], APPROVAL_DENY);
    config_free(cfg);
}
END_TEST

START_TEST(test_agent_keys)
{
    struct config *cfg = load_ok("agent:\n  max_steps: 1000\n"
                                 "  approvals: {read: deny, edit: auto, command: \"auto\"}\n"
                                 "  sandbox: off\n  command_timeout_s: 86400\n"
                                 "  approval_timeout_s: 604800\n");
    ck_assert_int_eq(cfg->agent.max_steps, 1000);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_READ], APPROVAL_DENY);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_EDIT], APPROVAL_AUTO);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_COMMAND], APPROVAL_AUTO);
    ck_assert(!cfg->agent.sandbox);
    ck_assert_int_eq(cfg->agent.command_timeout_s, 86400);
    ck_assert_int_eq(cfg->agent.approval_timeout_s, 604800);
    config_free(cfg);
    cfg = load_ok("agent:\n  max_steps: 1\n  sandbox: landlock\n  command_timeout_s: 1\n"
                  "  approval_timeout_s: 1\n  approvals:\n    edit: ask\n");
    ck_assert_int_eq(cfg->agent.max_steps, 1);
    ck_assert(cfg->agent.sandbox);
    ck_assert_int_eq(cfg->agent.command_timeout_s, 1);
    ck_assert_int_eq(cfg->agent.approval_timeout_s, 1);
    config_free(cfg);
}
END_TEST

START_TEST(test_agent_errors)
{
    expect_error("agent:\n  max_steps: 0\n",
                 ":2:14: agent.max_steps: expected an integer from 1 to 1000, got \"0\"");
    expect_error("agent:\n  max_steps: 1001\n", "agent.max_steps: expected an integer from 1 to 1000");
    expect_error("agent:\n  max_steps: many\n", "agent.max_steps: expected an integer");
    expect_error("agent:\n  command_timeout_s: 0\n",
                 "agent.command_timeout_s: expected an integer from 1 to 86400, got \"0\"");
    expect_error("agent:\n  command_timeout_s: 86401\n", "agent.command_timeout_s: expected an integer from 1 to 86400");
    expect_error("agent:\n  approval_timeout_s: 604801\n",
                 "agent.approval_timeout_s: expected an integer from 1 to 604800, got \"604801\"");
    expect_error("agent:\n  approval_timeout_s: -1\n", "agent.approval_timeout_s: expected an integer from 1 to 604800");
    expect_error("agent:\n  approvals:\n    edit: sometimes\n",
                 ":3:11: agent.approvals.edit: expected auto, ask or deny, got \"sometimes\"");
    expect_error("agent:\n  approvals: {read: yes}\n",
                 "agent.approvals.read: expected auto, ask or deny, got \"yes\"");
    expect_error("agent:\n  approvals:\n    command: Auto\n", "agent.approvals.command: expected auto, ask or deny");
    expect_error("agent:\n  approvals:\n    write: ask\n", ":3:5: agent.approvals.write: unknown key");
    expect_error("agent:\n  approvals: auto\n", "agent.approvals: expected a mapping of keys");
    expect_error("agent:\n  sandbox: true\n",
                 ":2:12: agent.sandbox: expected off or landlock, got \"true\"");
    expect_error("agent:\n  sandbox: firejail\n", "agent.sandbox: expected off or landlock, got \"firejail\"");
    expect_error("agent:\n  sandbox: [landlock]\n", "agent.sandbox: expected a single value, not a list");
    expect_error("agent:\n  max_step: 3\n", "agent.max_step: unknown key; did you mean \"max_steps\"?");
}
END_TEST

START_TEST(test_model_tools_key)
{
    struct config *cfg = load_ok("providers:\n  - {name: o, type: ollama, base_url: http://o}\n"
                                 "models:\n  a: {provider: o, model: x}\n"
                                 "  n: {provider: o, model: x, tools: native}\n"
                                 "  t: {provider: o, model: x, tools: text}\n"
                                 "  u: {provider: o, model: x, tools: auto}\n");
    ck_assert_int_eq(cfg->models[0].tools, MODEL_TOOLS_AUTO);
    ck_assert_int_eq(cfg->models[1].tools, MODEL_TOOLS_NATIVE);
    ck_assert_int_eq(cfg->models[2].tools, MODEL_TOOLS_TEXT);
    ck_assert_int_eq(cfg->models[3].tools, MODEL_TOOLS_AUTO);
    config_free(cfg);
    expect_error("providers:\n  - {name: o, type: ollama, base_url: http://o}\n"
                 "models:\n  a:\n    provider: o\n    model: x\n    tools: json\n",
                 ":7:12: models.a.tools: expected auto, native or text, got \"json\"");
    expect_error("providers:\n  - {name: o, type: ollama, base_url: http://o}\n"
                 "models:\n  a: {provider: o, model: x, tools: true}\n",
                 "models.a.tools: expected auto, native or text, got \"true\"");
}
END_TEST

START_TEST(test_enum_names)
{
    ck_assert_str_eq(config_approval_policy_name(APPROVAL_AUTO), "auto");
    ck_assert_str_eq(config_approval_policy_name(APPROVAL_ASK), "ask");
    ck_assert_str_eq(config_approval_policy_name(APPROVAL_DENY), "deny");
    ck_assert_int_eq(config_approval_policy_parse("auto"), APPROVAL_AUTO);
    ck_assert_int_eq(config_approval_policy_parse("ask"), APPROVAL_ASK);
    ck_assert_int_eq(config_approval_policy_parse("deny"), APPROVAL_DENY);
    ck_assert_int_eq(config_approval_policy_parse("Ask"), -1);
    ck_assert_int_eq(config_approval_policy_parse(""), -1);
    ck_assert_int_eq(config_approval_policy_parse(NULL), -1);
    ck_assert_str_eq(config_approval_category_name(APPROVAL_READ), "read");
    ck_assert_str_eq(config_approval_category_name(APPROVAL_EDIT), "edit");
    ck_assert_str_eq(config_approval_category_name(APPROVAL_COMMAND), "command");
    ck_assert_str_eq(config_model_tools_name(MODEL_TOOLS_AUTO), "auto");
    ck_assert_str_eq(config_model_tools_name(MODEL_TOOLS_NATIVE), "native");
    ck_assert_str_eq(config_model_tools_name(MODEL_TOOLS_TEXT), "text");
    /* The approvals keys are the categories' names, in the enum's order. */
    for (size_t i = 0; i < APPROVAL_CATEGORIES; i++) {
        ck_assert_str_eq(approvals_keys[i].name, config_approval_category_name(i));
        ck_assert_uint_eq(approvals_keys[i].offset, i * sizeof(enum approval_policy));
    }
}
END_TEST

START_TEST(test_dump_agent_roundtrip)
{
    struct config *cfg = load_ok("providers:\n  - {name: o, type: ollama, base_url: http://o}\n"
                                 "models:\n  n: {provider: o, model: x, tools: native}\n"
                                 "agent:\n  max_steps: 7\n  sandbox: off\n"
                                 "  approvals: {read: ask, edit: deny, command: auto}\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_dump(cfg, f);
    fclose(f);
    config_free(cfg);
    ck_assert_ptr_nonnull(strstr(buf, "\nagent:\n  max_steps: 7\n  approvals:\n    read: ask\n"
                                      "    edit: deny\n    command: auto\n  sandbox: off\n"));
    ck_assert_ptr_nonnull(strstr(buf, "    tools: native\n"));
    /* The dump loads back to the same values. */
    cfg = load_ok(buf);
    ck_assert_int_eq(cfg->agent.max_steps, 7);
    ck_assert(!cfg->agent.sandbox);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_READ], APPROVAL_ASK);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_EDIT], APPROVAL_DENY);
    ck_assert_int_eq(cfg->agent.approvals[APPROVAL_COMMAND], APPROVAL_AUTO);
    ck_assert_int_eq(cfg->models[0].tools, MODEL_TOOLS_NATIVE);
    config_free(cfg);
    free(buf);
}
END_TEST

static void
check_key_documented(const char *dotted, void *arg)
{
    const char *man = arg;
    ck_assert_msg(strstr(man, dotted) != NULL, "caretid.yaml(5) does not document %s", dotted);
}

START_TEST(test_every_key_documented)
{
    FILE *f = fopen("man/caretid.yaml.5", "r");
    ck_assert_msg(f != NULL, "man/caretid.yaml.5 is missing");
    static char man[256 * 1024];
    size_t n = fread(man, 1, sizeof man - 1, f);
    man[n] = '\0';
    fclose(f);
    config_each_key(check_key_documented, man);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_example_file_loads);
    tcase_add_test(tc, test_builtin_defaults);
    tcase_add_test(tc, test_empty_file_is_defaults);
    tcase_add_test(tc, test_unknown_key_suggests);
    tcase_add_test(tc, test_type_errors);
    tcase_add_test(tc, test_path_variables);
    tcase_add_test(tc, test_yaml_syntax_error);
    tcase_add_test(tc, test_structure_errors);
    tcase_add_test(tc, test_listen_policy);
    tcase_add_test(tc, test_listen_parse);
    tcase_add_test(tc, test_models_and_options);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_dump_redacts_secrets);
    tcase_add_test(tc, test_every_key_documented);
    tcase_add_test(tc, test_agent_defaults);
    tcase_add_test(tc, test_agent_keys);
    tcase_add_test(tc, test_agent_errors);
    tcase_add_test(tc, test_model_tools_key);
    tcase_add_test(tc, test_enum_names);
    tcase_add_test(tc, test_dump_agent_roundtrip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
