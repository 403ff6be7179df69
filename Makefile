# Open Event Server in C: build, run, test.
# `make run` and `make test` are the two commands a fresh machine needs; both
# install what is missing first (scripts/deps.sh, idempotent).

PKGS      := libevent libevent_pthreads libpq json-c libjwt libsodium libcurl libmagic hiredis zlib
CC        ?= cc
CSTD      := -std=c11 -D_GNU_SOURCE
WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
OPT       ?= -O2 -g
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm

# Modules being written by other hands, not yet wired in: out of the build
# until they are.
WIP  :=
SRCS := $(filter-out $(WIP),$(wildcard src/core/*.c src/handlers/*.c src/signals/*.c src/tasks/*.c))
BUILD ?= build/release
SQLS := $(sort $(wildcard sql/[0-9][0-9][0-9]_*.sql))
OBJS := $(SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o
BIN  ?= open-event-server

# Unit tests: test/unit/test_<module>.c links the module(s) it names in
# UNIT_DEPS_<module> (default: src/core/<module>.c).
UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/test/%)
UNIT_DEPS_router  := src/core/router.c
UNIT_DEPS_query   := src/core/query.c
UNIT_DEPS_jsonapi := src/core/jsonapi.c src/core/query.c src/core/jsonw.c
UNIT_DEPS_config  := src/core/config.c src/core/log.c src/core/cidr.c
UNIT_DEPS_cidr    := src/core/cidr.c
UNIT_DEPS_pg_pool := src/core/pg_pool.c src/core/log.c
UNIT_DEPS_auth    := src/core/auth.c src/core/log.c
UNIT_DEPS_signals := src/signals/signals.c src/core/log.c
UNIT_DEPS_ical    := src/tasks/ical.c
UNIT_DEPS_redis_queue := src/tasks/redis_queue.c src/core/log.c
UNIT_DEPS_password := src/core/password.c src/core/workers.c src/core/log.c
UNIT_DEPS_ratelimit := src/core/ratelimit.c src/core/log.c src/tasks/redis_queue.c
UNIT_DEPS_multipart := src/core/multipart.c
UNIT_DEPS_dataurl := src/core/dataurl.c
UNIT_DEPS_mime    := src/core/mime.c src/core/log.c
UNIT_DEPS_listcache := src/core/listcache.c src/core/config.c src/core/log.c src/core/cidr.c

.PHONY: all deps run test unit integration asan valgrind bench format format-check clean docs fuzz soak

all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(CFLAGS_ALL) -o $@ $(OBJS) $(LDLIBS_ALL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/gen/migrations.c: $(SQLS) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	bash scripts/embed-sql.sh $@ $(SQLS)

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

-include $(OBJS:.o=.d)

$(BUILD)/test/test_%: test/unit/test_%.c $(SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags cmocka) -o $@ $< \
		$(or $(UNIT_DEPS_$*),src/core/$*.c) $(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

# Tests of modules against a real PostgreSQL (run by the integration harness
# with DATABASE_URL set): test/db/db_<name>.c links UNIT_DEPS_<name>.
DB_SRCS := $(wildcard test/db/db_*.c)
DB_BINS := $(DB_SRCS:test/db/%.c=$(BUILD)/test/%)

$(BUILD)/test/db_%: test/db/db_%.c $(SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags cmocka) -o $@ $< \
		$(UNIT_DEPS_$*) $(LDLIBS_ALL) $(shell pkg-config --libs cmocka)

unit-bins: $(UNIT_BINS) $(DB_BINS)

deps:
	@bash scripts/deps.sh

# Starts a private PostgreSQL when DATABASE_URL is unset, then the server.
run: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/run.sh $(ARGS)

# Everything, with real services: unit tests, then integration tests.
test: deps
	@$(MAKE) --no-print-directory all unit-bins
	@BIN=./$(BIN) UNIT_DIR=$(BUILD)/test bash scripts/test.sh

unit: deps
	@$(MAKE) --no-print-directory unit-bins
	@set -e; for t in $(UNIT_BINS); do $$t; done

integration: deps
	@$(MAKE) --no-print-directory all unit-bins
	@BIN=./$(BIN) UNIT_DIR=$(BUILD)/test python3 test/integration/run.py

# The same suites under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/open-event-server \
		OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		build/asan/open-event-server unit-bins
	@BIN=build/asan/open-event-server UNIT_DIR=build/asan/test SANITIZED=1 \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 bash scripts/test.sh

# The integration suite with the server under valgrind.
valgrind: deps
	@$(MAKE) --no-print-directory all unit-bins
	@BIN=./$(BIN) UNIT_DIR=$(BUILD)/test VALGRIND=1 bash scripts/test.sh

# Renders docs/api (API Blueprint) to docs/api/build/index.html, served at /docs.
docs: deps
	@bash scripts/docs.sh

# libFuzzer targets in test/fuzz/ (clang), FUZZ_SECONDS each (600); FUZZ_TARGETS="router jwt" picks some.
fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_TARGETS)

# SOAK_SECONDS (600) of mixed load on a private PostgreSQL; RSS every minute, fails above +10%.
soak: deps
	@$(MAKE) --no-print-directory all
	@BIN=./$(BIN) bash bench/soak.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BIN=./$(BIN) bash bench/run.sh

FORMAT_FILES = $(shell find src test/unit test/db -name '*.[ch]')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build $(BIN)
