# herd - see README.md. `make`, `make test`, `make demo`, `make install`.
#
#   make test SANITIZE=1   the same suite under ASan+UBSan (in build/san/)
#   make test TESTS=name   only the tests whose names contain name;
#                          TEST_FLAGS="-j 2 --tap" for the runner's options
#   make install PREFIX=/usr/local DESTDIR=
#                          LIBDIR=$(PREFIX)/lib (Debian: /usr/lib/<multiarch>),
#                          SYSTEMDUNITDIR=$(PREFIX)/lib/systemd/system (empty:
#                          no unit), LDCONFIG=ldconfig (empty: not run)
#   make WERROR=0          warnings are not errors (for packagers: a newer
#                          compiler's new warnings must not fail a build)
#
# CPPFLAGS, CFLAGS and LDFLAGS are honoured.

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
# herd@.service (herd@.service.in): one app per instance, its config file
# /etc/herd/NAME.conf (docs/herd.md, "Under systemd")
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
LDCONFIG ?= ldconfig
SANITIZE ?=

VERSION := 0.2.0
# Until 1.0 the ABI changes with each minor version (include/herd.h): the
# soname carries it, so a program runs only with the minor it was built
# against.
SOMAJOR := 0.2

ifeq ($(SANITIZE),1)
BUILD ?= build/san
# float-cast-overflow is not part of gcc's "undefined": named, so that a double
# cast to an integer out of its range (a JSON number) is caught too
SANFLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined,float-cast-overflow
else
BUILD ?= build
SANFLAGS :=
endif

CFLAGS ?= -O2 -g
WERROR ?= 1
WARN := -std=gnu11 -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes
# The program (src/cli) sees the public header only: it links against
# libherd.so as any program would (herd-shared below keeps it so).
ALL_CFLAGS := $(WARN) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE -Iinclude -fPIC -MMD -MP
# -z now: no lazily bound PLT slot in the programs (spawn.c's vfork child
# must not go through one)
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS) -Wl,-z,now

# what libherd needs of the system's libraries: libm for floor() and the
# like (gcc inlines them at -O2; clang calls them)
LIBS := -lpthread -lm

LIB_SRC := $(sort $(wildcard src/lib/*.c src/lib/linux/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC := $(sort $(wildcard src/cli/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
# the program's parts other than main(), unit-tested in the test binary
CLI_PART_OBJ := $(filter-out %/main.o,$(CLI_OBJ))
HERD_BIN := $(BUILD)/herd
HERD_SHARED := $(BUILD)/herd-shared
EX_SRC := $(sort $(wildcard examples/*.c))
EX_BIN := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(BUILD)/tests/herd-test
# fuzz/NAME.c: a libFuzzer harness; its seeds in fuzz/corpus/NAME/, its
# dictionary fuzz/NAME.dict. Built with $(CC) and fuzz/replay.c, each is
# also a replay program that the test suite runs over the seeds.
FUZZ_SRC := $(filter-out fuzz/replay.c,$(sort $(wildcard fuzz/*.c)))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)
# the chaos test (bench/chaos.c): a test tool, built with the tests
CHAOS_BIN := $(BUILD)/bench/chaos

STATIC := $(BUILD)/libherd.a
SHARED_REAL := $(BUILD)/libherd.so.$(VERSION)
SHARED_SONAME := libherd.so.$(SOMAJOR)
SHARED := $(BUILD)/libherd.so

.PHONY: all lib herd examples tests test demo tour install uninstall clean bench fuzz fuzz-build \
	chaos soak static test-static
all: lib herd examples

# Keep the objects of pattern rules (examples, fuzz harnesses): deleted as
# intermediates, they made every `make` rebuild and relink them. (Named:
# a bare .SECONDARY: would also let a missing library count as made.)
.SECONDARY: $(EX_SRC:%.c=$(BUILD)/obj/%.o) $(FUZZ_SRC:%.c=$(BUILD)/obj/%.o) \
	$(BUILD)/obj/fuzz/replay.o $(BUILD)/obj/bench/chaos.o \
	$(FUZZ_SRC:%.c=build/fuzz/obj/%.o)

herd: $(HERD_BIN)

lib: $(STATIC) $(SHARED)
examples: $(EX_BIN)
tests: $(TEST_BIN) $(FUZZ_REPLAY) $(CHAOS_BIN) $(HERD_SHARED)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# the library, its tests and harnesses see its internal header too
$(LIB_OBJ) $(TEST_OBJ) $(BUILD)/obj/fuzz/%.o $(BUILD)/obj/bench/%.o: ALL_CFLAGS += -Isrc/lib

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED_REAL): $(LIB_OBJ) src/lib/libherd.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SHARED_SONAME) -Wl,--version-script=src/lib/libherd.map \
		-Wl,-z,now -o $@ $(LIB_OBJ) $(ALL_LDFLAGS) -lm

$(SHARED): $(SHARED_REAL)
	ln -sf libherd.so.$(VERSION) $(BUILD)/$(SHARED_SONAME)
	ln -sf libherd.so.$(VERSION) $@

comma := ,
# HERD_LDSCRIPT: a linker script for herd alone (make static sets it)
HERD_LDSCRIPT ?=
$(HERD_BIN): $(CLI_OBJ) $(STATIC) $(HERD_LDSCRIPT)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CLI_OBJ) $(STATIC) $(ALL_LDFLAGS) $(if $(HERD_LDSCRIPT),-Wl$(comma)-T$(comma)$(HERD_LDSCRIPT)) $(LIBS)

# The same program linked against libherd.so: it must use nothing the
# library does not export (the suite runs it: tests/sh/herd-shared.sh).
# utf8.o is the exception, compiled in: the program shares the library's
# UTF-8 and hex code (src/lib/utf8.h), which the .so keeps to itself.
$(HERD_SHARED): $(CLI_OBJ) $(BUILD)/obj/src/lib/utf8.o $(SHARED)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/obj/src/lib/utf8.o -L$(BUILD) -l:$(SHARED_SONAME) -Wl,-rpath,'$$ORIGIN' \
		$(ALL_LDFLAGS) $(LIBS)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(LIBS)

$(TEST_BIN): $(TEST_OBJ) $(CLI_PART_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(TEST_OBJ) $(CLI_PART_OBJ) $(STATIC) $(ALL_LDFLAGS) $(LIBS)

$(CHAOS_BIN): $(BUILD)/obj/bench/chaos.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/obj/fuzz/%.o: ALL_CFLAGS += -Isrc/cli
$(BUILD)/fuzz-replay/%: $(BUILD)/obj/fuzz/%.o $(BUILD)/obj/fuzz/replay.o $(CLI_PART_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(BUILD)/obj/fuzz/replay.o $(CLI_PART_OBJ) $(STATIC) $(ALL_LDFLAGS) $(LIBS)

# The fuzzers themselves: clang's libFuzzer with ASan, UBSan and
# float-cast-overflow, in build/fuzz/ (whatever BUILD is). `make fuzz`
# runs each for SECS seconds (60 by default; CI gives 30), new inputs in
# build/fuzz/corpus/NAME/, crashes as build/fuzz/crash-NAME-*.
FUZZ_CC ?= clang
FUZZ_OUT := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined,float-cast-overflow \
	-fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -O1 -g -D_GNU_SOURCE -Iinclude -Isrc/lib -Isrc/cli $(FUZZ_SAN)
FUZZ_PART_SRC := $(LIB_SRC) $(filter-out %/main.c,$(CLI_SRC))
FUZZ_PART_OBJ := $(FUZZ_PART_SRC:%.c=$(FUZZ_OUT)/obj/%.o)
FUZZ_BIN := $(FUZZ_NAMES:%=$(FUZZ_OUT)/%)

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_OUT)/libparts.a: $(FUZZ_PART_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_OUT)/%: $(FUZZ_OUT)/obj/fuzz/%.o $(FUZZ_OUT)/libparts.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OUT)/libparts.a $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: SECS ?= 60
fuzz: fuzz-build
	sh fuzz/run.sh $(FUZZ_OUT) $(SECS) $(FUZZ_NAMES)

# The --metrics address's web page: kept as readable files in
# src/cli/web/, made C arrays (od and awk: src/cli/web/embed.sh) in a
# generated header that src/cli/web.c includes.
WEB_FILES := $(sort $(wildcard src/cli/web/*.html src/cli/web/*.css src/cli/web/*.js))
$(BUILD)/gen/webfiles.h: $(WEB_FILES) src/cli/web/embed.sh
	@mkdir -p $(dir $@)
	sh src/cli/web/embed.sh $(WEB_FILES) > $@.new && mv $@.new $@
$(BUILD)/obj/src/cli/web.o $(FUZZ_OUT)/obj/src/cli/web.o: $(BUILD)/gen/webfiles.h
$(BUILD)/obj/src/cli/web.o: ALL_CFLAGS += -I$(BUILD)/gen
$(FUZZ_OUT)/obj/src/cli/web.o: FUZZ_CFLAGS += -I$(BUILD)/gen

# `make static`: build/static/herd and the examples, linked statically
# with musl (musl-gcc, Debian's musl-tools; not installed by the build),
# -Os, unused sections dropped, no unwind tables (C without exceptions:
# 35 KB of .eh_frame nothing reads), stripped; objects in build/static/obj.
# musl-gcc sees musl's headers only: the kernel's (linux/, asm/ -
# reuseport.c's BPF) come from a folder of links to the system's.
# herd is linked with src/cli/static-hot.ld: what its master runs and
# reads, from start-up to idle, in segments of their own, so that the
# kernel's 64 KiB fault-around maps none of the rest of the file
# (bench/hot.sh writes it; bench/RESULTS.md, "static", measures it).
# `make test HERD_PROGS=build/static` runs the end-to-end tests against
# them (the test binary itself stays a glibc one).
MUSL_CC ?= musl-gcc
STATIC_OUT := build/static
static:
	@command -v $(MUSL_CC) >/dev/null 2>&1 || \
		{ echo "make static: $(MUSL_CC) not found (Debian: apt-get install musl-tools)"; exit 1; }
	@mkdir -p $(STATIC_OUT)/kinc
	@a=/usr/include/$$($(MUSL_CC) -print-multiarch 2>/dev/null)/asm; [ -d "$$a" ] || a=/usr/include/asm; \
		ln -sfn "$$a" $(STATIC_OUT)/kinc/asm && ln -sfn /usr/include/asm-generic $(STATIC_OUT)/kinc/asm-generic && \
		ln -sfn /usr/include/linux $(STATIC_OUT)/kinc/linux
	$(MAKE) BUILD=$(STATIC_OUT) CC=$(MUSL_CC) SANITIZE= CPPFLAGS="-isystem $(STATIC_OUT)/kinc" \
		CFLAGS="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables" \
		LDFLAGS="-static -Wl,--gc-sections -s" HERD_LDSCRIPT=src/cli/static-hot.ld \
		herd examples
	@ls -l $(STATIC_OUT)/herd $(STATIC_OUT)/examples/hello-http | awk '{ print $$5, $$NF }'

# One runner for everything: the C unit tests and the shell tests in
# tests/sh/, each in its own process with a timeout; the last line is
# "N passed, N failed[, N skipped]".
test: all tests
	HERD_BUILD=$(BUILD) HERD_SANITIZE=$(SANITIZE) $(TEST_BIN) $(TEST_FLAGS) $(TESTS)

# The same suite against the static build: herd and the examples from
# build/static (HERD_PROGS), the test binary and its helpers glibc ones.
test-static: static all tests
	HERD_BUILD=$(BUILD) HERD_PROGS=$(STATIC_OUT) $(TEST_BIN) $(TEST_FLAGS) $(TESTS)

# herd's main job on a built-in default (see examples/cluster-demo.sh)
demo: all
	@sh examples/cluster-demo.sh $(BUILD)

# a tour of the libherd examples that finish by themselves
tour: all
	@sh examples/demo.sh $(BUILD)

bench: all
	sh bench/run.sh

# The chaos test (bench/README.md): every --balance mode for SECS seconds
# under crashes, reloads and scaling, judged against its bar. `soak` is the
# same for 200 s a mode - ten minutes for the three - with the master's RSS
# and fds every 10 s (not CI).
chaos: SECS ?= 60
chaos: all $(CHAOS_BIN)
	$(CHAOS_BIN) --mode all --secs $(SECS)

soak: SECS ?= 200
soak: all $(CHAOS_BIN)
	$(CHAOS_BIN) --mode all --secs $(SECS) --warmup 10 --series 10

# herd.pc and herd@.service are made at install time: they name this
# install's paths. A LIBDIR the dynamic linker does not search by itself
# (ld.so(8): /lib, /usr/lib, their multiarch and lib64 dirs) goes in
# herd.pc's Libs as a run path too, so that a program built with
# `pkg-config --libs herd` runs without LD_LIBRARY_PATH; PC_RPATH= drops it.
MULTIARCH = $(shell $(CC) -print-multiarch 2>/dev/null)
SYS_LIBDIRS = /lib /usr/lib /lib64 /usr/lib64 $(if $(MULTIARCH),/lib/$(MULTIARCH) /usr/lib/$(MULTIARCH))
, := ,
PC_RPATH = $(if $(filter $(SYS_LIBDIRS),$(patsubst %/,%,$(LIBDIR))),,-Wl$(,)-rpath$(,)$${libdir} )
install: lib herd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 755 $(HERD_BIN) $(DESTDIR)$(PREFIX)/bin/herd
	install -m 644 include/herd.h $(DESTDIR)$(PREFIX)/include/herd.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libherd.a
	install -m 755 $(SHARED_REAL) $(DESTDIR)$(LIBDIR)/libherd.so.$(VERSION)
	ln -sf libherd.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SHARED_SONAME)
	ln -sf libherd.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libherd.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@RPATH@|$(PC_RPATH)|g' herd.pc.in > $(BUILD)/herd.pc
	install -m 644 $(BUILD)/herd.pc $(DESTDIR)$(LIBDIR)/pkgconfig/herd.pc
	for m in $(wildcard docs/man/*.1); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done
	for m in $(wildcard docs/man/*.3); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man3/; done
ifneq ($(SYSTEMDUNITDIR),)
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' herd@.service.in > $(BUILD)/herd@.service
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 644 $(BUILD)/herd@.service $(DESTDIR)$(SYSTEMDUNITDIR)/herd@.service
endif
# The linker's cache, when the library went to a dir it caches (such as
# /usr/local/lib) on this machine, as root: not for DESTDIR (a package
# runs it when installed) nor for a dir of one's own (the run path above).
ifneq ($(LDCONFIG),)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1 && \
		$(LDCONFIG) -N -X -v 2>/dev/null | grep -q '^$(patsubst %/,%,$(LIBDIR)):'; then \
		echo "$(LDCONFIG)"; $(LDCONFIG); fi
endif

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/herd $(DESTDIR)$(PREFIX)/include/herd.h $(DESTDIR)$(LIBDIR)/libherd.a \
		$(DESTDIR)$(LIBDIR)/libherd.so* $(DESTDIR)$(LIBDIR)/pkgconfig/herd.pc
	for m in $(notdir $(wildcard docs/man/*.1)); do rm -f $(DESTDIR)$(PREFIX)/share/man/man1/$$m; done
	for m in $(notdir $(wildcard docs/man/*.3)); do rm -f $(DESTDIR)$(PREFIX)/share/man/man3/$$m; done
ifneq ($(SYSTEMDUNITDIR),)
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/herd@.service
endif

clean:
	rm -rf build

# (the fuzz objects too: a header change once left stale ones that no
# longer linked)
-include $(FUZZ_PART_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(FUZZ_OUT)/obj/%.d)
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/obj/bench/chaos.d $(FUZZ_SRC:%.c=$(BUILD)/obj/%.d) $(EX_SRC:examples/%.c=$(BUILD)/obj/examples/%.d)
