# Meshwork — one Makefile for every program, test and benchmark.
#
#   make            release build of every program into build/bin/ (never
#                   installs anything: a missing -dev package says `make deps`)
#   make test       format check, then a sanitizer build (ASan+UBSan) in
#                   build/asan/, unit tests (cmocka) and integration tests
#                   (pytest), summary
#   make tsan       ThreadSanitizer build in build/tsan/ and the tests that
#                   exercise our threads and librdkafka's callbacks
#   make demo       runs the e-commerce mesh of examples/ecommerce/ until
#                   Ctrl-C or `make demo-stop` (DEMO_SECONDS=N: N seconds)
#   make demo-stop  stops a running demo (SIGTERM to its pid file)
#   make bench      benchmarks against their raw limits (never in make test)
#   make soak       the whole data path for SOAK_MINUTES (default 30) under
#                   rotating faults, then an exact check of every output
#                   port (never in make test; tests/soak/README.md)
#   make kafka      starts a real single-node Apache Kafka (KRaft) on loopback
#   make deps       installs the Debian packages and the Python test venv
#   make docs       regenerates docs/CONFIGURATION.md from the key tables
#   make format     clang-format over every C file
#   make format-check  fails when clang-format would change a C file
#   make fuzz       libFuzzer (clang) over every parser of outside input, in
#                   build/fuzz/, FUZZ_SECONDS=N each (default 60)
#
# Folders are layers; each folder is one static library, every *_main.c is a
# program.  Dependencies only point down (see docs/ARCHITECTURE.md).

BUILD   ?= build
SAN     ?= 0
CC      ?= cc
PYTHON  ?= /usr/bin/python3
VENV    := build/venv

# Library folders, lowest layer first.  A folder's *_main.c files are
# programs, everything else goes into the folder's library.
LIBDIRS := common \
           broker-adapters/kafka \
           broker-adapters/embedded \
           schema-registry/avro \
           schema-registry/client \
           schema-registry/product \
           schema-registry/policy \
           schema-registry/server \
           schema-registry/cli \
           producers \
           consumers

# program name -> its main file; a program is built once its main exists.
ALL_PROGRAMS := mesh-broker mesh-registry meshctl mesh-producer \
                mesh-materializer
MAIN_mesh-broker   := broker-adapters/embedded/eb_main.c
MAIN_mesh-registry := schema-registry/server/reg_main.c
MAIN_meshctl       := schema-registry/cli/ctl_main.c
MAIN_mesh-producer := producers/pr_main.c
MAIN_mesh-materializer := consumers/mat_main.c
PROGRAMS := $(foreach p,$(ALL_PROGRAMS),$(if $(wildcard $(MAIN_$(p))),$(p)))

PKGS    := rdkafka jansson libevent libevent_pthreads avro-c sqlite3 libpq \
           yaml-0.1 libevent_openssl openssl
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wno-format-zero-length
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(WARN) -MMD -MP \
               $(addprefix -I,$(LIBDIRS)) \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS_BASE := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt -lpthread -lm

ifeq ($(SAN),1)
OPT     := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
           -fno-omit-frame-pointer
else ifeq ($(SAN),fuzz)
# libFuzzer's coverage instrumentation in every object, ASan and UBSan
# (clang only: make fuzz sets CC=clang); the fuzz targets alone link the
# fuzzer's main.
OPT     := -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
           -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SAN),thread)
# ThreadSanitizer cannot be combined with ASan: a build of its own.
OPT     := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
else
OPT     := -O2
endif

ALL_CFLAGS  := $(CFLAGS_BASE) $(OPT) $(CFLAGS)
ALL_LDFLAGS := $(OPT) $(LDFLAGS)

libname  = $(BUILD)/lib/lib$(subst /,_,$(1)).a
lib_srcs = $(filter-out %_main.c,$(wildcard $(1)/*.c))
lib_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(call lib_srcs,$(1)))

LIBS_ALL := $(foreach d,$(LIBDIRS),$(if $(call lib_srcs,$(d)),$(call libname,$(d))))
# Link order: highest layer first so static archives resolve downward.
LINK_LIBS := $(shell echo $(LIBS_ALL) | tr ' ' '\n' | tac)

BINS        := $(addprefix $(BUILD)/bin/,$(PROGRAMS))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_SRCS   := $(wildcard tests/tools/*.c)
TOOL_BINS   := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
# Fuzz targets, one per parser of outside input (tests/fuzz/README.md): with
# libFuzzer in the SAN=fuzz build, else with driver.c, the replaying main
# that runs their regression cases in make test.
FUZZ_SRCS   := $(wildcard tests/fuzz/fz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(BUILD)/tests/fuzz/%,$(FUZZ_SRCS))
FUZZ_MAIN   := $(if $(filter fuzz,$(SAN)),,$(BUILD)/obj/tests/fuzz/driver.o)
FUZZ_LINK   := $(if $(filter fuzz,$(SAN)),-fsanitize=fuzzer)
BENCH_SRCS  := $(wildcard bench/*.c)
BENCH_BINS  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
# The ThreadSanitizer build links C11 <threads.h> over pthreads into every
# executable, so librdkafka's threads and locks are seen by TSan (see the
# file); no other build has it.
SHIM_OBJ    := $(if $(filter thread,$(SAN)),$(BUILD)/obj/tests/tsan/c11threads.o)

.PHONY: all programs check-pkgs deps test test-build unit integration tsan \
        demo demo-stop bench soak kafka docs format format-check clean fuzz \
        fuzz-build

# `make` only builds: installing packages is `make deps`'s job alone.
all: programs

programs: check-pkgs $(BINS)

# One line instead of a page of missing-header errors when a -dev package
# is absent.
check-pkgs:
	@missing=$$(for p in $(PKGS); do \
	    pkg-config --exists $$p || printf ' %s' $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "make: missing development packages:$$missing; run 'make deps'"; \
	    exit 1; \
	fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The catalog page (schema-registry/server/ui/, plain HTML/CSS/JS) goes
# into mesh-registry's library as a generated C file in the build directory,
# never committed (reg_api_ui_embed.sh says how).  The folder itself is a
# prerequisite too, so removing a file regenerates the table.
UI_FILES := $(sort $(wildcard schema-registry/server/ui/*))
UI_GEN   := $(BUILD)/gen/reg_api_ui_files.c
GEN_OBJS_schema-registry/server := $(BUILD)/obj/gen/reg_api_ui_files.o

$(UI_GEN): $(UI_FILES) schema-registry/server/ui \
           schema-registry/server/reg_api_ui_embed.sh
	@mkdir -p $(dir $@)
	schema-registry/server/reg_api_ui_embed.sh $(UI_FILES) > $@.tmp
	@mv $@.tmp $@

$(BUILD)/obj/gen/reg_api_ui_files.o: $(UI_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

define LIB_RULE
$(call libname,$(1)): $(call lib_objs,$(1)) $(GEN_OBJS_$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LIBDIRS),$(if $(call lib_srcs,$(d)),$(eval $(call LIB_RULE,$(d)))))

define PROG_RULE
$(BUILD)/bin/$(1): $(BUILD)/obj/$(patsubst %.c,%.o,$(MAIN_$(1))) $(LIBS_ALL) \
                   $(SHIM_OBJ)
	@mkdir -p $$(dir $$@)
	$(CC) $(ALL_LDFLAGS) -o $$@ $$< $(SHIM_OBJ) $(LINK_LIBS) $(LDLIBS_BASE)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROG_RULE,$(p))))

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(LIBS_ALL) $(SHIM_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHIM_OBJ) $(LINK_LIBS) $(LDLIBS_BASE) \
	    $(shell pkg-config --libs cmocka)

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBS_ALL) $(SHIM_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHIM_OBJ) $(LINK_LIBS) $(LDLIBS_BASE)

$(BUILD)/tests/fuzz/fz_%: $(BUILD)/obj/tests/fuzz/fz_%.o $(FUZZ_MAIN) \
                         $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) $(FUZZ_LINK) -o $@ $< $(FUZZ_MAIN) $(LINK_LIBS) \
	    $(LDLIBS_BASE)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LINK_LIBS) $(LDLIBS_BASE)

# ---------------------------------------------------------------- deps
# Debian packages the build, the tests and the demo need.  Installed with
# apt-get when run as root; otherwise the exact command is printed.
DEB_PKGS := build-essential pkg-config librdkafka-dev libavro-dev \
            libjansson-dev libevent-dev libcmocka-dev libpq-dev \
            libsqlite3-dev libyaml-dev libcrypt-dev libssl-dev kcat python3 python3-venv \
            python3-pytest python3-avro avro-bin postgresql maven \
            openjdk-17-jre-headless curl wrk clang-format graphviz \
            chromium python3-yaml sqlite3 jq clang libclang-rt-14-dev

deps: $(BUILD)/.deps-debian $(VENV)/.done

$(BUILD)/.deps-debian: Makefile
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "deps: installing $$missing"; \
	        DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
	            || exit 1; \
	    else \
	        echo "deps: missing Debian packages; run:"; \
	        echo "  sudo apt-get update && sudo apt-get install -y $$missing"; \
	        exit 1; \
	    fi; \
	fi
	@mkdir -p $(dir $@) && touch $@

$(VENV)/.done: tests/requirements.txt $(BUILD)/.deps-debian
	@rm -rf $(VENV)
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check \
	    -r tests/requirements.txt
	@touch $@

# ---------------------------------------------------------------- test
test: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory test-build BUILD=build/asan SAN=1
	@tests/run.sh build/asan

test-build: check-pkgs $(BINS) $(UNIT_BINS) $(TOOL_BINS) $(FUZZ_BINS)

unit: deps
	@$(MAKE) --no-print-directory test-build BUILD=build/asan SAN=1
	@tests/run.sh build/asan unit

integration: deps
	@$(MAKE) --no-print-directory test-build BUILD=build/asan SAN=1
	@tests/run.sh build/asan integration

# ThreadSanitizer: the code with threads of its own (the registry journal's
# writer) and librdkafka's callbacks into our loops.  librdkafka and libevent
# are not instrumented: tests/tsan.supp silences races whose stacks lie
# entirely inside them (or glibc), never one that touches our code.
TSAN_UNIT   := test_reg_store_journal
TSAN_PYTEST := \
    tests/integration/test_registry_storage.py::test_restart_keeps_everything \
    tests/integration/test_registry_storage.py::test_kill9_during_burst_keeps_acknowledged \
    tests/integration/test_registry_storage.py::test_torn_tail_after_kill_is_cut \
    tests/integration/test_registry_storage.py::test_second_registry_on_same_journal_refused \
    tests/integration/test_registry_storage.py::test_two_kafka_instances_agree[embedded] \
    tests/integration/test_producer_http.py::test_http_10k_records_roundtrip \
    tests/integration/test_producer_http.py::test_http_bad_requests_precise_4xx \
    tests/integration/test_adapter.py::test_200k_through_group_of_two[embedded] \
    tests/integration/test_adapter.py::test_sigterm_during_produce_loses_nothing

tsan: deps
	@$(MAKE) --no-print-directory test-build BUILD=build/tsan SAN=thread
	@MESH_UNIT_TESTS="$(TSAN_UNIT)" MESH_PYTEST="$(TSAN_PYTEST)" \
	    tests/run.sh build/tsan

# ---------------------------------------------------------------- fuzz
# libFuzzer over each fuzz target for FUZZ_SECONDS, in its own build
# (clang, SAN=fuzz) in build/fuzz/; the corpus grows across runs under
# build/fuzz/corpus/, a crashing input is left under build/fuzz/crashes/.
# clang is one of DEB_PKGS (the gcc builds do not need it).
FUZZ_SECONDS ?= 60

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build BUILD=build/fuzz SAN=fuzz CC=clang
	@tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

fuzz-build: check-pkgs $(FUZZ_BINS)

# ---------------------------------------------------------------- demo etc.
demo: deps
	@$(MAKE) --no-print-directory programs
	@examples/demo.sh $(BUILD)

# Stops a running demo: SIGTERM to the script (pid file in its state dir),
# which stops every process it started and checks their exit codes.
demo-stop:
	@pidf=$${DEMO_STATE:-$(BUILD)/demo}/demo.pid; \
	pid=$$(cat "$$pidf" 2>/dev/null); \
	if [ -z "$$pid" ] || ! kill -0 "$$pid" 2>/dev/null; then \
	    echo "demo-stop: no demo running ($$pidf)"; exit 0; \
	fi; \
	kill -TERM "$$pid"; \
	for i in $$(seq 600); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.1; done; \
	if kill -0 "$$pid" 2>/dev/null; then \
	    echo "demo-stop: demo (pid $$pid) still running after 60 s"; exit 1; \
	fi; \
	echo "demo-stop: demo (pid $$pid) stopped"

bench: deps
	@$(MAKE) --no-print-directory programs $(BENCH_BINS)
	@bench/run.sh $(BUILD)

# The soak runs the release build: its RSS is what production would see,
# and at the soak's rate it leaves the machine's cores to the load; the
# sanitizers' leak and memory checks are make test's job.
SOAK_MINUTES ?= 30
soak: deps
	@$(MAKE) --no-print-directory programs
	@$(VENV)/bin/python tests/soak/soak.py --build $(BUILD) \
	    --minutes $(SOAK_MINUTES)

kafka: deps
	@tests/kafka/kafka.sh run

docs: programs
	@docs/gen-config.sh $(BUILD) > docs/CONFIGURATION.md

format:
	@command -v clang-format >/dev/null || { \
	    echo "format: clang-format missing; run: make deps"; exit 1; }
	clang-format -i $$(git ls-files '*.c' '*.h')

# Fails (and names each file) when `make format` would change something.
format-check:
	@command -v clang-format >/dev/null || { \
	    echo "format-check: clang-format missing; run: make deps"; exit 1; }
	@bad=$$(for f in $$(git ls-files '*.c' '*.h'); do \
	    clang-format --dry-run --Werror "$$f" >/dev/null 2>&1 || echo "$$f"; \
	    done); \
	if [ -n "$$bad" ]; then \
	    echo "format-check: clang-format would change $$(echo "$$bad" | wc -l) file(s); run 'make format':"; \
	    echo "$$bad" | sed 's/^/    /'; exit 1; \
	fi

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
