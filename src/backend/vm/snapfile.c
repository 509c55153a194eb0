/* A template's saved VM without its zero pages (snapfile.h). The stream is
 * QEMU's, and QEMU runs a guest: it is read as hostile input (every length
 * bounded before use, every loop consuming input, anything unexpected a
 * refusal) by the daemon, which only ever copies its bytes. The stream,
 * as QEMU 7.2 writes it for a stopped VM (migration/savevm.c, ram.c):
 *   "QEVM" be32(3)
 *   [0x07 be32(n) name[n]]                       the configuration
 *   0x01 be32(id) u8(n) "ram" be32(inst) be32(4)   the RAM section starts
 *        be64(total | MEM_SIZE) { u8(n) block[n] be64(length) }...  EOS
 *        [0x7e be32(id)]                          a section footer
 *   0x02|0x03 be32(id) record... EOS [0x7e be32(id)]   its parts, its end
 *   0x04 ...                                      the devices: kept as is
 * A record is be64(offset | flags), then the block's name (u8(n) name[n])
 * unless CONTINUE says it is the last record's block, then one byte (ZERO:
 * every byte of the page) or the page (PAGE). */
#include "backend/vm/snapfile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

#define SNAP_MAGIC 0x5145564du /* "QEVM" */
#define SNAP_VERSION 3u
#define SEC_START 0x01
#define SEC_PART 0x02
#define SEC_END 0x03
#define SEC_FULL 0x04
#define SEC_CONFIG 0x07
#define SEC_FOOTER 0x7e

#define RAM_ZERO 0x02
#define RAM_MEM_SIZE 0x04
#define RAM_PAGE 0x08
#define RAM_EOS 0x10
#define RAM_CONTINUE 0x20
#define RAM_FLAGS 0xfffu /* the offset is page-aligned: flags live below */
#define RAM_VERSION 4u

#define PAGE 4096u
#define BLOCKS_MAX 64
#define RAM_MAX (1ull << 40) /* bytes of guest RAM: a map of 32 MiB at most */
#define BUF_SIZE (1u << 20)

struct reader {
    int fd;
    uint8_t *buf;
    size_t len, pos;
};

struct writer {
    int fd;
    uint8_t *buf;
    size_t len;
};

struct block {
    char name[256];
    uint64_t length;
    bool ram;         /* the guest's RAM: its zero pages are left out... */
    uint64_t *loaded; /* ...unless written before in the stream: a bit a page */
};

struct snap {
    struct reader in;
    struct writer out;
    struct block blocks[BLOCKS_MAX];
    size_t nblocks;
    int in_block, out_block; /* the last record's block, read and written */
    uint32_t ram_id;
    bool ram_started;
    struct vm_snap_stats stats;
    struct runra_err **err;
};

static int unsupported(struct snap *s, const char *what)
{
    return err_set(s->err, ENOTSUP, "snapshot: %s", what);
}

static int corrupt(struct snap *s, const char *what)
{
    return err_set(s->err, EBADMSG, "snapshot: %s", what);
}

/* At least n (<= BUF_SIZE) bytes buffered; -EBADMSG when the file ends first. */
static int need(struct snap *s, size_t n)
{
    struct reader *r = &s->in;
    if (r->len - r->pos >= n)
        return 0;
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    while (r->len < n) {
        ssize_t got = read(r->fd, r->buf + r->len, BUF_SIZE - r->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return err_sys(s->err, errno, "snapshot: read");
        if (got == 0)
            return corrupt(s, "the stream ends too soon");
        r->len += (size_t)got;
    }
    return 0;
}

static int flush(struct snap *s)
{
    int r = write_full(s->out.fd, s->out.buf, s->out.len);
    s->out.len = 0;
    return r < 0 ? err_sys(s->err, r, "snapshot: write") : 0;
}

static int put(struct snap *s, const void *p, size_t n)
{
    if (s->out.len + n > BUF_SIZE) {
        int r = flush(s);
        if (r < 0)
            return r;
    }
    memcpy(s->out.buf + s->out.len, p, n);
    s->out.len += n;
    return 0;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int put_be(struct snap *s, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return put(s, b, n);
}

/* Reads n (1, 4 or 8) bytes big-endian, copying them out when copy. */
static int get_be(struct snap *s, size_t n, bool copy, uint64_t *ret)
{
    int r = need(s, n);
    if (r < 0)
        return r;
    const uint8_t *p = s->in.buf + s->in.pos;
    s->in.pos += n;
    *ret = be(p, n);
    return copy ? put(s, p, n) : 0;
}

/* A u8-counted name, into out (256 bytes), copied out when copy. */
static int get_name(struct snap *s, bool copy, char out[256])
{
    uint64_t n;
    int r = get_be(s, 1, copy, &n);
    if (r < 0 || (r = need(s, (size_t)n)) < 0)
        return r;
    memcpy(out, s->in.buf + s->in.pos, (size_t)n);
    out[n] = 0;
    if (memchr(out, 0, (size_t)n))
        return corrupt(s, "a name with a NUL in it");
    s->in.pos += (size_t)n;
    return copy ? put(s, out, (size_t)n) : 0;
}

static int find_block(struct snap *s, const char *name)
{
    for (size_t i = 0; i < s->nblocks; i++)
        if (!strcmp(s->blocks[i].name, name))
            return (int)i;
    return -1;
}

/* The RAM section's first record: the blocks and their sizes. */
static int mem_size(struct snap *s, uint64_t total)
{
    uint64_t sum = 0;
    while (sum < total) {
        if (s->nblocks == BLOCKS_MAX)
            return unsupported(s, "too many RAM blocks");
        struct block *b = &s->blocks[s->nblocks];
        int r = get_name(s, true, b->name);
        if (r < 0 || (r = get_be(s, 8, true, &b->length)) < 0)
            return r;
        if (!b->name[0] || find_block(s, b->name) >= 0 || b->length == 0 ||
            b->length % PAGE || b->length > total - sum)
            return unsupported(s, "RAM blocks that do not add up");
        b->ram = !strcmp(b->name, "microvm.ram") || !strcmp(b->name, "pc.ram");
        if (b->ram && b->length > RAM_MAX)
            return unsupported(s, "more guest RAM than a VM can have");
        if (b->ram && !(b->loaded = calloc((b->length / PAGE + 63) / 64, sizeof(uint64_t))))
            return err_sys(s->err, ENOMEM, "snapshot: a map of %s", b->name);
        sum += b->length;
        s->nblocks++;
    }
    return 0;
}

/* One section's RAM records, up to and with its EOS. */
static int ram_records(struct snap *s)
{
    for (;;) {
        uint64_t h;
        int r = get_be(s, 8, false, &h);
        if (r < 0)
            return r;
        uint64_t flags = h & RAM_FLAGS, off = h & ~(uint64_t)RAM_FLAGS;
        if (flags == RAM_EOS && off == 0)
            return put_be(s, h, 8);
        if (flags == RAM_MEM_SIZE) {
            if (s->nblocks || !off)
                return unsupported(s, "a second list of RAM blocks");
            if ((r = put_be(s, h, 8)) < 0)
                return r;
            if ((r = mem_size(s, off)) < 0)
                return r;
            continue;
        }
        uint64_t kind = flags & ~(uint64_t)RAM_CONTINUE;
        if (kind != RAM_ZERO && kind != RAM_PAGE)
            return unsupported(s, "RAM records of a kind runra does not write");
        if (!(flags & RAM_CONTINUE)) {
            char name[256];
            if ((r = get_name(s, false, name)) < 0)
                return r;
            if ((s->in_block = find_block(s, name)) < 0)
                return corrupt(s, "a page of an unknown RAM block");
        } else if (s->in_block < 0) {
            return corrupt(s, "a page before any RAM block");
        }
        const struct block *b = &s->blocks[s->in_block];
        if (off > b->length - PAGE)
            return corrupt(s, "a page past its RAM block");
        uint64_t fill = 0, bit = (uint64_t)1 << (off / PAGE % 64);
        uint64_t *word = b->ram ? &b->loaded[off / PAGE / 64] : NULL;
        if (kind == RAM_ZERO) {
            if ((r = get_be(s, 1, false, &fill)) < 0)
                return r;
            /* Zero already, unless the stream wrote it before (QEMU sends
             * a page again when the guest wrote it again). */
            if (fill == 0 && word && !(*word & bit)) {
                s->stats.dropped++;
                continue;
            }
        } else if ((r = need(s, PAGE)) < 0) {
            return r;
        }
        if (word)
            *word |= bit;
        /* Named again where the last page written was another block's. */
        bool same = s->out_block == s->in_block;
        r = put_be(s, off | kind | (same ? RAM_CONTINUE : 0), 8);
        if (r >= 0 && !same) {
            uint8_t n = (uint8_t)strlen(b->name);
            if ((r = put(s, &n, 1)) >= 0)
                r = put(s, b->name, n);
            s->out_block = s->in_block;
        }
        if (r >= 0 && kind == RAM_ZERO) {
            uint8_t c = (uint8_t)fill;
            r = put(s, &c, 1);
        } else if (r >= 0) {
            r = put(s, s->in.buf + s->in.pos, PAGE);
            s->in.pos += PAGE;
        }
        if (r < 0)
            return r;
        s->stats.pages++;
    }
}

/* A section footer, where QEMU writes them (every machine type since 2.5
 * does): 0x7e and the section's id. */
static int footer(struct snap *s, uint32_t id)
{
    int r = need(s, 1);
    if (r < 0 || s->in.buf[s->in.pos] != SEC_FOOTER)
        return r;
    uint64_t v;
    if ((r = get_be(s, 1, true, &v)) < 0 || (r = get_be(s, 4, true, &v)) < 0)
        return r;
    return v == id ? 0 : corrupt(s, "a section footer of another section");
}

/* Everything after the RAM: copied as it is. */
static int copy_rest(struct snap *s)
{
    int r = put(s, s->in.buf + s->in.pos, s->in.len - s->in.pos);
    s->in.pos = s->in.len;
    while (r >= 0) {
        ssize_t got = read(s->in.fd, s->in.buf, BUF_SIZE);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return err_sys(s->err, errno, "snapshot: read");
        if (got == 0)
            break;
        r = put(s, s->in.buf, (size_t)got);
    }
    return r < 0 ? r : flush(s);
}

static int compact(struct snap *s)
{
    uint64_t v;
    int r;
    if ((r = get_be(s, 4, true, &v)) < 0)
        return r;
    if (v != SNAP_MAGIC)
        return unsupported(s, "not a QEMU migration stream");
    if ((r = get_be(s, 4, true, &v)) < 0)
        return r;
    if (v != SNAP_VERSION)
        return unsupported(s, "a migration stream of another version");
    if ((r = need(s, 1)) < 0)
        return r;
    if (s->in.buf[s->in.pos] == SEC_CONFIG) {
        uint64_t n;
        if ((r = get_be(s, 1, true, &v)) < 0 || (r = get_be(s, 4, true, &n)) < 0)
            return r;
        if (n > 255)
            return unsupported(s, "a configuration of another form");
        if ((r = need(s, (size_t)n)) < 0 || (r = put(s, s->in.buf + s->in.pos, (size_t)n)) < 0)
            return r;
        s->in.pos += (size_t)n;
    }
    for (;;) {
        if ((r = need(s, 1)) < 0)
            return r;
        uint8_t type = s->in.buf[s->in.pos];
        if (type == SEC_FULL && s->ram_started)
            return copy_rest(s);
        uint64_t id;
        if ((r = get_be(s, 1, true, &v)) < 0 || (r = get_be(s, 4, true, &id)) < 0)
            return r;
        if (type == SEC_START) {
            char name[256];
            uint64_t inst, version;
            if ((r = get_name(s, true, name)) < 0 || (r = get_be(s, 4, true, &inst)) < 0 ||
                (r = get_be(s, 4, true, &version)) < 0)
                return r;
            if (strcmp(name, "ram") != 0 || s->ram_started)
                return unsupported(s, "a live section other than RAM's");
            if (version != RAM_VERSION)
                return unsupported(s, "a RAM section of another version");
            s->ram_started = true;
            s->ram_id = (uint32_t)id;
        } else if (type == SEC_PART || type == SEC_END) {
            if (!s->ram_started || id != s->ram_id)
                return corrupt(s, "a part of a section that did not start");
        } else {
            return unsupported(s, "a section of a kind it does not know");
        }
        if ((r = ram_records(s)) < 0 || (r = footer(s, (uint32_t)id)) < 0)
            return r;
        if (type == SEC_START && !s->nblocks)
            return unsupported(s, "a RAM section without its blocks");
    }
}

int vm_snap_compact(int in, int out, struct vm_snap_stats *ret, struct runra_err **err)
{
    struct snap *s = calloc(1, sizeof(*s));
    if (!s)
        return err_sys(err, ENOMEM, "snapshot");
    *s = (struct snap){.in = {.fd = in}, .out = {.fd = out}, .in_block = -1, .out_block = -1,
                       .err = err};
    int r;
    if (!(s->in.buf = malloc(BUF_SIZE)) || !(s->out.buf = malloc(BUF_SIZE)))
        r = err_sys(err, ENOMEM, "snapshot");
    else if (lseek(in, 0, SEEK_SET) < 0)
        r = err_sys(err, errno, "snapshot: seek");
    else
        r = compact(s);
    if (r >= 0 && ret)
        *ret = s->stats;
    for (size_t i = 0; i < s->nblocks; i++)
        free(s->blocks[i].loaded);
    free(s->in.buf);
    free(s->out.buf);
    free(s);
    return r;
}
