/* A template's saved VM without its zero pages (src/backend/vm/snapfile.c):
 * streams built here in QEMU's form are compacted, and both are loaded by
 * a reader of the test's own into RAM images that must be equal. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/vm/snapfile.h"
#include "test.h"

#define PG 4096u

/* A stream being built. */
struct sb {
    uint8_t *p;
    size_t len, cap;
};

static void raw(struct sb *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void bytes_be(struct sb *b, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * (n - 1 - i)));
        raw(b, &c, 1);
    }
}

static void name(struct sb *b, const char *s)
{
    bytes_be(b, strlen(s), 1);
    raw(b, s, strlen(s));
}

/* The blocks of these streams: the guest's RAM and a firmware block. */
#define RAM_PAGES 64
#define BIOS_PAGES 4

static void header(struct sb *b)
{
    bytes_be(b, 0x5145564d, 4);
    bytes_be(b, 3, 4);
    bytes_be(b, 0x07, 1);
    bytes_be(b, 7, 4);
    raw(b, "microvm", 7);
    bytes_be(b, 0x01, 1); /* START */
    bytes_be(b, 2, 4);
    name(b, "ram");
    bytes_be(b, 0, 4);
    bytes_be(b, 4, 4);
    bytes_be(b, (uint64_t)(RAM_PAGES + BIOS_PAGES) * PG | 0x04, 8);
    name(b, "microvm.ram");
    bytes_be(b, (uint64_t)RAM_PAGES * PG, 8);
    name(b, "pc.bios");
    bytes_be(b, (uint64_t)BIOS_PAGES * PG, 8);
}

static void eos_footer(struct sb *b)
{
    bytes_be(b, 0x10, 8);
    bytes_be(b, 0x7e, 1);
    bytes_be(b, 2, 4);
}

/* A page record; with cont, of the last record's block. */
static void page(struct sb *b, const char *block, bool cont, uint32_t n, uint8_t fill, bool zero)
{
    bytes_be(b, (uint64_t)n * PG | (zero ? 0x02 : 0x08) | (cont ? 0x20 : 0), 8);
    if (!cont)
        name(b, block);
    if (zero) {
        bytes_be(b, fill, 1);
        return;
    }
    uint8_t pg[PG];
    for (size_t i = 0; i < PG; i++)
        pg[i] = (uint8_t)(fill + i);
    raw(b, pg, PG);
}

static const uint8_t devices[] = {0x04, 0, 0, 0, 0, 5, 't', 'i', 'm', 'e', 'r', 0, 0, 0, 0,
                                  0,    0, 0, 2, 1, 2, 3, 0x7e, 0, 0, 0, 0, 0x00, 0x06, 'x'};

/* A stream like QEMU's: every page of both blocks over three sections,
 * zero pages among the rest, CONTINUE chains across both blocks. */
static struct sb stream(void)
{
    struct sb b = {0};
    header(&b);
    eos_footer(&b);
    bytes_be(&b, 0x02, 1); /* PART */
    bytes_be(&b, 2, 4);
    for (uint32_t i = 0; i < RAM_PAGES / 2; i++)
        page(&b, "microvm.ram", i > 0, i, i % 3 != 1 ? 0 : (uint8_t)i, i % 3 != 1);
    page(&b, "pc.bios", false, 0, 0, true); /* a zero page outside RAM: kept */
    page(&b, "pc.bios", true, 1, 0x55, false);
    eos_footer(&b);
    bytes_be(&b, 0x03, 1); /* END */
    bytes_be(&b, 2, 4);
    /* Zero pages first: the first page written must name its block. */
    for (uint32_t i = RAM_PAGES / 2; i < RAM_PAGES; i++) {
        bool zero = i < RAM_PAGES / 2 + 3 || i % 5 == 0;
        page(&b, "microvm.ram", i > RAM_PAGES / 2, i, zero ? 0 : (uint8_t)(i * 7), zero);
    }
    page(&b, "microvm.ram", true, 3, 0xff, true); /* a filled page: kept */
    page(&b, "pc.bios", false, 2, 0, true);
    page(&b, "pc.bios", true, 3, 9, false);
    eos_footer(&b);
    raw(&b, devices, sizeof(devices));
    return b;
}

struct loaded {
    uint8_t ram[RAM_PAGES * PG], bios[BIOS_PAGES * PG];
    size_t records, zero_records;
    bool ok;
};

static uint64_t rd(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The test's own reading of a stream, into RAM that starts zero. */
static void load(const uint8_t *p, size_t len, struct loaded *m)
{
    memset(m, 0, sizeof(*m));
    size_t o = 8 + 1 + 4 + 7;
    uint8_t *cur = NULL;
    size_t cur_len = 0;
    for (;;) {
        uint8_t type = p[o];
        if (type == 0x04) {
            m->ok = len - o == sizeof(devices) && !memcmp(p + o, devices, sizeof(devices));
            return;
        }
        o += 5;
        if (type == 0x01)
            o += 1 + p[o] + 8;
        for (;;) {
            uint64_t h = rd(p + o, 8);
            o += 8;
            if (h == 0x10)
                break;
            if (h & 0x04) {
                o += 1 + 11 + 8 + 1 + 7 + 8;
                continue;
            }
            if (!(h & 0x20)) {
                size_t n = p[o];
                if (n == 11 && !memcmp(p + o + 1, "microvm.ram", 11)) {
                    cur = m->ram;
                    cur_len = sizeof(m->ram);
                } else if (n == 7 && !memcmp(p + o + 1, "pc.bios", 7)) {
                    cur = m->bios;
                    cur_len = sizeof(m->bios);
                } else {
                    return;
                }
                o += 1 + n;
            }
            uint64_t off = h & ~0xfffull;
            if (!cur || off + PG > cur_len)
                return;
            m->records++;
            if (h & 0x02) {
                memset(cur + off, p[o++], PG);
                m->zero_records++;
            } else {
                memcpy(cur + off, p + o, PG);
                o += PG;
            }
        }
        if (p[o] != 0x7e || rd(p + o + 1, 4) != 2)
            return;
        o += 5;
    }
}

/* Runs vm_snap_compact on the stream; -errno, or the output in *out. */
static int compact(const struct sb *in, struct sb *out, struct vm_snap_stats *st)
{
    int a = memfd_create("in", MFD_CLOEXEC), b = memfd_create("out", MFD_CLOEXEC);
    if (a < 0 || b < 0 || write(a, in->p, in->len) != (ssize_t)in->len)
        return -EIO;
    int r = vm_snap_compact(a, b, st, NULL);
    off_t n = lseek(b, 0, SEEK_END);
    *out = (struct sb){.p = malloc((size_t)n + 1), .len = (size_t)n};
    if (pread(b, out->p, (size_t)n, 0) != n)
        r = -EIO;
    close(a);
    close(b);
    return r;
}

static void drops_zero_ram_pages(void)
{
    struct sb in = stream(), out;
    struct vm_snap_stats st = {0};
    CHECK(compact(&in, &out, &st) == 0);
    static struct loaded a, b;
    load(in.p, in.len, &a);
    load(out.p, out.len, &b);
    CHECK(a.ok && b.ok);
    CHECK(!memcmp(a.ram, b.ram, sizeof(a.ram)) && !memcmp(a.bios, b.bios, sizeof(a.bios)));
    /* Only RAM's zero pages went; the firmware's and the filled one stay. */
    CHECK(a.records == RAM_PAGES + BIOS_PAGES + 1);
    CHECK(st.dropped > 0 && st.pages + st.dropped == a.records);
    CHECK(b.records == st.pages && a.records - b.records == st.dropped);
    CHECK(b.zero_records == 3); /* bios 0, bios 2, the filled page */
    CHECK(out.len < in.len);
    free(in.p);
    free(out.p);
}

static void idempotent(void)
{
    struct sb in = stream(), once, twice;
    struct vm_snap_stats st;
    CHECK(compact(&in, &once, &st) == 0);
    CHECK(compact(&once, &twice, &st) == 0 && st.dropped == 0);
    CHECK(once.len == twice.len && !memcmp(once.p, twice.p, once.len));
    free(in.p);
    free(once.p);
    free(twice.p);
}

/* Streams it does not know are refused as such (-ENOTSUP: kept as they
 * are), broken ones as broken (-EIO); neither crashes or loops. */
static void refuses(void)
{
    struct sb good = stream(), out;
    struct vm_snap_stats st;
    size_t start = 8 + 1 + 4 + 7; /* the START section */
    size_t first_rec = start + 5 + 4 + 8 + 8 + 12 + 8 + 8 + 8 + 8 + 5 + 5; /* PART's first */

    struct sb b = {0};
    raw(&b, good.p, good.len);
    b.p[0] = 'X';
    CHECK(compact(&b, &out, &st) == -ENOTSUP);
    free(out.p);
    b.p[0] = 'Q';
    b.p[7] = 4; /* stream version */
    CHECK(compact(&b, &out, &st) == -ENOTSUP);
    free(out.p);
    b.p[7] = 3;
    b.p[start + 5 + 1] = 'x'; /* a live section other than "ram" */
    CHECK(compact(&b, &out, &st) == -ENOTSUP);
    free(out.p);
    b.p[start + 5 + 1] = 'r';
    b.p[start + 5 + 4 + 8 - 1] = 5; /* RAM section version */
    CHECK(compact(&b, &out, &st) == -ENOTSUP);
    free(out.p);
    b.p[start + 5 + 4 + 8 - 1] = 4;
    /* A record flag runra never turns on (XBZRLE). */
    CHECK(rd(b.p + first_rec, 8) == 0x02);
    b.p[first_rec + 7] = 0x40;
    CHECK(compact(&b, &out, &st) == -ENOTSUP);
    free(out.p);
    /* A page past the end of its block. */
    b.p[first_rec + 7] = 0x02;
    b.p[first_rec + 5] = 0x10; /* offset 1 MiB: past 64 pages */
    CHECK(compact(&b, &out, &st) == -EBADMSG);
    free(out.p);
    b.p[first_rec + 5] = 0;
    CHECK(compact(&b, &out, &st) == 0);
    free(out.p);
    /* A block named with a NUL in its name. */
    size_t block_name = start + 5 + 4 + 8 + 8 + 1;
    CHECK(!memcmp(b.p + block_name, "microvm.ram", 11));
    b.p[block_name + 3] = 0;
    CHECK(compact(&b, &out, &st) == -EBADMSG);
    free(out.p);
    b.p[block_name + 3] = 'r';
    /* Cut short anywhere in the RAM: refused, never a partial success. */
    size_t devs = good.len - sizeof(devices);
    for (size_t cut = 0; cut < devs; cut += 97) {
        b.len = cut;
        int r = compact(&b, &out, &st);
        CHECK(r == -EBADMSG || r == -ENOTSUP);
        free(out.p);
    }
    free(b.p);
    free(good.p);
}

/* QEMU sends a page again when the guest wrote it again: a page written
 * with data and then sent as zero must be zeroed, so that record stays. */
static void keeps_a_page_zeroed_again(void)
{
    struct sb in = {0}, out;
    header(&in);
    eos_footer(&in);
    bytes_be(&in, 0x02, 1);
    bytes_be(&in, 2, 4);
    page(&in, "microvm.ram", false, 5, 0x11, false);
    page(&in, "microvm.ram", true, 6, 0, true); /* never written: dropped */
    eos_footer(&in);
    bytes_be(&in, 0x03, 1);
    bytes_be(&in, 2, 4);
    page(&in, "microvm.ram", true, 5, 0, true); /* written above: kept */
    page(&in, "microvm.ram", true, 7, 0, true); /* never written: dropped */
    eos_footer(&in);
    raw(&in, devices, sizeof(devices));
    struct vm_snap_stats st = {0};
    CHECK(compact(&in, &out, &st) == 0);
    CHECK(st.dropped == 2 && st.pages == 2);
    static struct loaded a, b;
    load(in.p, in.len, &a);
    load(out.p, out.len, &b);
    CHECK(a.ok && b.ok && !memcmp(a.ram, b.ram, sizeof(a.ram)));
    CHECK(b.ram[5 * PG] == 0 && b.zero_records == 1);
    free(in.p);
    free(out.p);
}

TEST_MAIN(TEST(drops_zero_ram_pages), TEST(idempotent), TEST(refuses),
          TEST(keeps_a_page_zeroed_again))
