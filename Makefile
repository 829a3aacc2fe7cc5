# caretid / caretictl — one GNU Makefile.  `make run` and `make check` are
# each one command on a fresh Debian 12 machine: they install the Debian
# packages they need first (see `deps`).

CC ?= cc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
DESTDIR ?=
PKG_CONFIG ?= pkg-config
SAN ?=

# libcurl is compiled against (its header) but not linked: upstream_curl.c
# opens it with dlopen at the first https:// request.  PCRE2 is the agent's
# search_files.
PKGS := libuv libcurl jansson yaml-0.1 sqlite3 libpcre2-8
LINK_PKGS := libuv jansson yaml-0.1 sqlite3 libpcre2-8
WARN := -std=c17 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes
ifeq ($(SAN),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

# Recursive (=) so pkg-config runs when a recipe needs it, after `deps`.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(LINK_PKGS)) -lhttp_parser -ldl
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)
ALL_CPPFLAGS = -D_GNU_SOURCE -Iinclude $(CPPFLAGS)
ALL_CFLAGS = $(WARN) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP

# Objects shared by the daemon and the unit tests.
# The rooms, lowest first: a room includes only rooms below it (or its
# own); tests/check_rooms.sh says so in make check.
ROOMS := core config wire upstream http store models agent api daemon
CORE_SRCS := $(foreach r,$(ROOMS),$(sort $(wildcard src/$(r)/*.c)))
DAEMON_SRCS := $(CORE_SRCS) src/main.c
CTL_SRCS := src/core/xmalloc.c src/core/cerr.c src/core/path.c src/core/rundir.c src/core/strdist.c $(wildcard src/cli/*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
TOOL_SRCS := $(wildcard tests/tools/*.c)

DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/obj/%.o)
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_OBJS := $(filter-out $(BUILD)/obj/src/main.o,$(DAEMON_OBJS))

DEBIAN_PKGS := build-essential pkg-config libuv1-dev libcurl4-openssl-dev libjansson-dev \
               libyaml-dev libhttp-parser-dev libsqlite3-dev libedit-dev libpcre2-dev check mandoc \
               curl openssl systemd zsh
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all run check check-build check-valgrind deps node-deps install uninstall clean bench fuzz

all: $(BUILD)/caretid $(BUILD)/caretictl $(BUILD)/completions/caretictl.bash \
     $(BUILD)/completions/_caretictl

$(BUILD)/caretid: $(DAEMON_OBJS)
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/caretictl: $(CTL_OBJS)
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libcurl jansson libedit) \
	    $(LDFLAGS)

# Shell completions come from caretictl's own command table, so they
# cannot drift from it.
$(BUILD)/completions/caretictl.bash: $(BUILD)/caretictl
	@mkdir -p $(dir $@)
	$(BUILD)/caretictl __complete bash > $@

$(BUILD)/completions/_caretictl: $(BUILD)/caretictl
	@mkdir -p $(dir $@)
	$(BUILD)/caretictl __complete zsh > $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# Unit tests #include the module under test to reach its statics, so they
# link against every core object but that module.
$(BUILD)/tests/test_%: tests/unit/test_%.c $(TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    $(filter-out %/$*.o,$(TEST_OBJS)) $(PKG_LIBS) $(CHECK_LIBS) $(LDFLAGS)

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) -lutil \
	    $(shell $(PKG_CONFIG) --libs sqlite3)

# Benchmarks link the real modules, like the unit tests.
$(BUILD)/bench/bench_sessions: bench/bench_sessions.c $(TEST_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(TEST_OBJS) $(PKG_LIBS) $(LDFLAGS)

# libFuzzer harnesses (tests/fuzz), built with clang and the sanitizers;
# each runs for FUZZ_SECONDS from its corpus.  Not part of check.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude
FUZZ_COMMON := src/core/sbuf.c src/core/text.c src/core/xmalloc.c src/core/cerr.c
fuzz: deps
	@command -v clang >/dev/null || $(SUDO) apt-get install -y -q clang
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_translate tests/fuzz/fuzz_translate.c \
	    src/wire/translate.c src/wire/jscan.c src/core/jfield.c $(FUZZ_COMMON) $(shell $(PKG_CONFIG) --cflags --libs jansson)
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_http tests/fuzz/fuzz_http.c src/http/http_server.c src/wire/chunked.c \
	    src/core/log.c $(FUZZ_COMMON) $(shell $(PKG_CONFIG) --cflags --libs jansson libuv) -lhttp_parser
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_jscan tests/fuzz/fuzz_jscan.c src/wire/jscan.c \
	    $(shell $(PKG_CONFIG) --cflags --libs jansson)
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_chunked tests/fuzz/fuzz_chunked.c src/wire/chunked.c \
	    -lhttp_parser
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_config tests/fuzz/fuzz_config.c src/config/config.c \
	    src/core/path.c src/core/log.c src/core/strdist.c $(FUZZ_COMMON) \
	    $(shell $(PKG_CONFIG) --cflags --libs jansson yaml-0.1)
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_upstream_http tests/fuzz/fuzz_upstream_http.c \
	    src/upstream/upstream_http.c src/upstream/upstream_head.c src/wire/chunked.c \
	    $(FUZZ_COMMON) $(shell $(PKG_CONFIG) --cflags --libs jansson libuv) -lhttp_parser
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_toolcall_parser tests/fuzz/fuzz_toolcall_parser.c \
	    src/agent/toolcall_parser.c $(FUZZ_COMMON) $(shell $(PKG_CONFIG) --cflags --libs jansson)
	clang $(FUZZ_CFLAGS) -o build/fuzz/fuzz_acp tests/fuzz/fuzz_acp.c src/cli/ctl_acp_rpc.c \
	    src/cli/ctl_acp_map.c src/core/xmalloc.c $(shell $(PKG_CONFIG) --cflags --libs jansson)
	for t in translate jscan chunked http config upstream_http toolcall_parser acp; do \
	    mkdir -p build/fuzz/corpus-$$t && cp tests/fuzz/corpus/$$t/* build/fuzz/corpus-$$t/ && \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        $$( [ -f tests/fuzz/$$t.dict ] && echo -dict=tests/fuzz/$$t.dict ) \
	        build/fuzz/corpus-$$t || exit 1; \
	done

# Not part of check: timings belong in docs/BENCHMARKS.md, not in tests.
bench: deps node-deps
	$(MAKE) all $(BUILD)/bench/bench_sessions
	bench/run.sh
	bench/sessions.sh
	bench/agent.sh

check-build: all $(UNIT_TESTS:%=$(BUILD)/tests/%) $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)

# Install whatever Debian packages are missing (apt-get; sudo when not root).
deps:
	@missing=$$(for p in $(DEBIAN_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    $(SUDO) apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# Node.js runs the test emulators and the official-client compatibility
# tests; the image may carry its own build, so look for the commands.
node-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	    $(SUDO) apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }

tests/compat/node_modules/.package-lock.json: tests/compat/package-lock.json tests/compat/package.json
	cd tests/compat && npm ci --no-audit --no-fund

run: deps
	$(MAKE) all
	./$(BUILD)/caretid -c config/caretid.yaml --tcp-optional

check: deps node-deps tests/compat/node_modules/.package-lock.json
	$(MAKE) check-build
	$(MAKE) SAN=1 check-build
	tests/run.sh

check-valgrind: deps node-deps tests/compat/node_modules/.package-lock.json
	@command -v valgrind >/dev/null || $(SUDO) apt-get install -y -q valgrind
	$(MAKE) check-build
	CARETID_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite" tests/run.sh --integ-only --build build

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/lib/systemd/user $(DESTDIR)$(PREFIX)/share/careti \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 755 $(BUILD)/caretid $(BUILD)/caretictl $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/completions/caretictl.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/caretictl
	install -m 644 $(BUILD)/completions/_caretictl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/
	install -m 644 man/caretictl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/caretid.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 man/caretid.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 config/caretid.yaml $(DESTDIR)$(PREFIX)/share/careti/caretid.yaml.example
	sed 's|@BINDIR@|$(PREFIX)/bin|g' systemd/caretid.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/user/caretid.service
	install -m 644 systemd/caretid.socket $(DESTDIR)$(PREFIX)/lib/systemd/user/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/caretid $(DESTDIR)$(PREFIX)/bin/caretictl \
	    $(DESTDIR)$(PREFIX)/share/man/man1/caretictl.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5/caretid.yaml.5 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/caretid.8 \
	    $(DESTDIR)$(PREFIX)/share/careti/caretid.yaml.example \
	    $(DESTDIR)$(PREFIX)/lib/systemd/user/caretid.service \
	    $(DESTDIR)$(PREFIX)/lib/systemd/user/caretid.socket \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/caretictl \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_caretictl
	-rmdir $(DESTDIR)$(PREFIX)/share/careti 2>/dev/null

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
