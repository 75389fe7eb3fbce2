#!/usr/bin/env python3
"""bench/hotld.py MAP TRACE [MAP TRACE...] > src/cli/static-hot.ld

The linker script that puts the code and read-only data the static
master touches (bench/hot.sh traced them) ahead of the rest: MAP is a
linker map (ld -Map) of a static herd, TRACE the addresses that herd
touched ("I 0x..." / "L 0x..." lines: valgrind --tool=lackey
--trace-mem=yes; "K 0x...": a system call's argument, read-only data
the kernel reads); several pairs are merged (strings: a string shared by
a hot and a cold function sits in whichever section the linker kept
first, so a second round over a binary linked with the first round's
script finds the rest).
"""
import bisect
import re
import sys

FULL = re.compile(r'^ (\.\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$')
NAME = re.compile(r'^ (\.\S+)$')
REST = re.compile(r'^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$')


def sections(path):
    """(start, size, section, file) of each input section the map placed"""
    out, pend, mem = [], None, False
    for line in open(path):
        line = line.rstrip('\n')
        if line.startswith('Linker script and memory map'):
            mem = True
            continue
        if not mem:
            continue
        m = FULL.match(line)
        if m:
            out.append((int(m.group(2), 16), int(m.group(3), 16), m.group(1), m.group(4)))
            pend = None
            continue
        m = NAME.match(line)
        if m:
            pend = m.group(1)
            continue
        m = REST.match(line)
        if m and pend:
            out.append((int(m.group(1), 16), int(m.group(2), 16), pend, m.group(3)))
        pend = None
    out = [s for s in out if s[0] and s[1] and s[2].startswith(('.text', '.rodata'))]
    out.sort()
    return out


def pattern(sec, obj):
    """an input section description: */file.o(sec) or *lib.a:member(sec)"""
    m = re.match(r'^(.*)\(([^)]+)\)$', obj)
    if m:
        return '*%s:%s(%s)' % (m.group(1).split('/')[-1], m.group(2), sec)
    return '*/%s(%s)' % (obj.split('/')[-1], sec)


# What the traced runs cannot see: valgrind gives a program no vDSO, so
# musl's look-up of clock_gettime in it (its first call: symbol names
# compared) runs only outside valgrind
EXTRA = [
    ('text', '*libc.a:vdso.lo(.text.*)'),
    ('rodata', '*libc.a:clock_gettime.lo(.rodata.*)'),
    ('rodata', '*libc.a:vdso.lo(.rodata.*)'),
# ... and valgrind runs one thread at a time, so the loop thread and the
# log writer (src/cli/logw.c) never meet on their mutex there; outside,
# about one master in two does, and a contended lock or a wait on it runs
# musl's slow paths (a futex wait): cold, each such call mapped 64 KiB of
# cold code around it (the master's RssFile 152 -> 216 KiB)
    ('text', '*libc.a:pthread_mutex_timedlock.lo(.text.*)'),
    ('text', '*libc.a:pthread_mutex_trylock.lo(.text.*)'),
    ('text', '*libc.a:__timedwait.lo(.text.*)'),
    ('text', '*libc.a:__wait.lo(.text.*)'),
# ... and under valgrind a spawn copies the whole fd table (valgrind ends
# a program at the clone with CLONE_FILES: src/lib/linux/os.c), so the
# vfork child's unshare of the low fds, and spawn.c's look at the paths
# before it, run only outside it
    ('text', '*libherd.a:os.o(.text.herd__os_unshare_fds)'),
    ('text', '*libherd.a:spawn.o(.text.via_fd)'),
]


def main():
    args = sys.argv[1:]
    if len(args) < 2 or len(args) % 2:
        sys.exit('usage: hotld.py MAP TRACE [MAP TRACE...]')
    hot = {}  # pattern -> (kind, size); first seen first
    for mapf, tracef in zip(args[0::2], args[1::2]):
        secs = sections(mapf)
        starts = [s[0] for s in secs]
        for line in open(tracef):
            f = line.split()
            if len(f) != 2:
                continue
            a = int(f[1], 16)
            j = bisect.bisect_right(starts, a) - 1
            if j < 0 or a >= secs[j][0] + secs[j][1]:
                continue
            s = secs[j]
            if f[0] == 'K' and not s[2].startswith('.rodata'):
                continue  # a system call's argument: data the kernel reads
            p = pattern(s[2], s[3])
            if p not in hot:
                hot[p] = ('text' if s[2].startswith('.text') else 'rodata', s[1])
    for kind, p in EXTRA:
        hot.setdefault(p, (kind, 0))
    # the strings and constants of each object with hot code, all of them,
    # named by the object, not by where a run found them: the linker keeps
    # one of equal strings (or constants) and drops the others, so the run
    # finds a string where its copy was kept, which another order moves
    # (gcc -fdata-sections: .rodata.FUNCTION.str1.1 holds the strings met
    # first in FUNCTION, which other functions use too)
    for p in [p for p, v in hot.items() if v[0] == 'text']:
        m = re.match(r'^(.*)\(\.text\.(?:startup\.|unlikely\.|hot\.)?([^)]*)\)$', p)
        if not m:
            continue
        obj = m.group(1)
        for sec in ('.rodata.*str*', '.rodata.cst*'):
            hot.setdefault('%s(%s)' % (obj, sec), ('rodata', 0))
    text = [p for p, v in hot.items() if v[0] == 'text']
    ro = [p for p, v in hot.items() if v[0] == 'rodata']
    sys.stderr.write('hotld.py: %d text sections (%d bytes), %d rodata sections (%d bytes)\n' % (
        len(text), sum(hot[p][1] for p in text), len(ro), sum(hot[p][1] for p in ro)))
    print('''/* src/cli/static-hot.ld - generated by bench/hot.sh (bench/hotld.py):
 * the input sections the static master touched up to its idle loop, each
 * kind in a segment of its own, after the rest, from a 64 KiB boundary.
 * On a page fault Linux maps up to 16 pages (fault-around, 64 KiB) from
 * the 64 KiB-aligned block of the page or the mapping's start, whichever
 * is later, up to the mapping's end: code and data that start a block and
 * end their mapping are mapped with nothing else. The gap before each is
 * address space only (ld gives it its own LOAD, the file has no padding).
 * .init and .fini (crti.o, crtn.o) join the code: _init runs at start. */''')
    print('SECTIONS {\n  .text.herd_hot ALIGN(0x10000) : {')
    for p in sorted(text):
        print('    ' + p)
    print('    KEEP (*(SORT_NONE(.init)))\n    KEEP (*(SORT_NONE(.fini)))')
    print('  }\n} INSERT AFTER .fini;')
    print('SECTIONS {\n  .rodata.herd_hot ALIGN(0x10000) : {')
    for p in sorted(ro):
        print('    ' + p)
    print('  }\n} INSERT AFTER .eh_frame;')


main()
