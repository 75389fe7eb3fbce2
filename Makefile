# herd - see README.md. `make`, `make test`, `make demo`, `make install`.
#
#   make test SANITIZE=1   the same suite under ASan+UBSan (in build/san/)
#   make install PREFIX=/usr/local DESTDIR=

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
SANITIZE ?=

VERSION := 0.1.0
SOMAJOR := 0

ifeq ($(SANITIZE),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CFLAGS ?= -O2 -g
WARN := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS := $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE -Iinclude -Isrc/lib -fPIC -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)

LIB_SRC := $(sort $(wildcard src/lib/*.c src/lib/linux/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC := $(sort $(wildcard src/cli/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
# the program's parts other than main(), unit-tested in the test binary
CLI_PART_OBJ := $(filter-out %/main.o,$(CLI_OBJ))
HERD_BIN := $(BUILD)/herd
EX_SRC := $(sort $(wildcard examples/*.c))
EX_BIN := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(BUILD)/tests/herd-test

STATIC := $(BUILD)/libherd.a
SHARED_REAL := $(BUILD)/libherd.so.$(VERSION)
SHARED_SONAME := libherd.so.$(SOMAJOR)
SHARED := $(BUILD)/libherd.so

.PHONY: all lib herd examples tests test demo tour install uninstall clean bench
all: lib herd examples

herd: $(HERD_BIN)

lib: $(STATIC) $(SHARED)
examples: $(EX_BIN)
tests: $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED_REAL): $(LIB_OBJ) src/lib/libherd.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SHARED_SONAME) -Wl,--version-script=src/lib/libherd.map \
		-Wl,-z,now -o $@ $(LIB_OBJ) $(ALL_LDFLAGS)

$(SHARED): $(SHARED_REAL)
	ln -sf libherd.so.$(VERSION) $(BUILD)/$(SHARED_SONAME)
	ln -sf libherd.so.$(VERSION) $@

$(HERD_BIN): $(CLI_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CLI_OBJ) $(STATIC) $(ALL_LDFLAGS) -lpthread

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(STATIC) $(ALL_LDFLAGS) -lpthread

$(TEST_BIN): $(TEST_OBJ) $(CLI_PART_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(TEST_OBJ) $(CLI_PART_OBJ) $(STATIC) $(ALL_LDFLAGS) -lpthread

# One runner for everything: the C unit tests and the shell tests in
# tests/sh/, each in its own process with a timeout; the last line is
# "N passed, N failed[, N skipped]".
test: all tests
	HERD_BUILD=$(BUILD) HERD_SANITIZE=$(SANITIZE) $(TEST_BIN) $(TESTS)

# herd's main job on a built-in default (see examples/cluster-demo.sh)
demo: all
	@sh examples/cluster-demo.sh $(BUILD)

# a tour of the libherd examples that finish by themselves
tour: all
	@sh examples/demo.sh $(BUILD)

bench: all
	sh bench/run.sh

# herd.pc is made at install time: it must name this install's PREFIX.
install: lib herd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 755 $(HERD_BIN) $(DESTDIR)$(PREFIX)/bin/herd
	install -m 644 include/herd.h $(DESTDIR)$(PREFIX)/include/herd.h
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/libherd.a
	install -m 755 $(SHARED_REAL) $(DESTDIR)$(PREFIX)/lib/libherd.so.$(VERSION)
	ln -sf libherd.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SHARED_SONAME)
	ln -sf libherd.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libherd.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' herd.pc.in > $(BUILD)/herd.pc
	install -m 644 $(BUILD)/herd.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/herd.pc
	for m in $(wildcard docs/man/*.1); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done
	for m in $(wildcard docs/man/*.3); do install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man3/; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/herd $(DESTDIR)$(PREFIX)/include/herd.h $(DESTDIR)$(PREFIX)/lib/libherd.a \
		$(DESTDIR)$(PREFIX)/lib/libherd.so* $(DESTDIR)$(PREFIX)/lib/pkgconfig/herd.pc
	for m in $(notdir $(wildcard docs/man/*.1)); do rm -f $(DESTDIR)$(PREFIX)/share/man/man1/$$m; done
	for m in $(notdir $(wildcard docs/man/*.3)); do rm -f $(DESTDIR)$(PREFIX)/share/man/man3/$$m; done

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(EX_SRC:examples/%.c=$(BUILD)/obj/examples/%.d)
