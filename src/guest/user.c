/* User lookup (user.h). The files are the sandbox's, so as untrusted as the
 * rest of it: read bounded, parsed field by field, and a malformed line is
 * skipped rather than believed. */
#include "guest/user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#define DB_MAX_BYTES (4u << 20)
#define ID_MAX 65535u /* what the sandbox's user namespace maps */

static bool parse_id(const char *s, unsigned *ret)
{
    uint64_t v;
    if (!*s || strspn(s, "0123456789") != strlen(s) || parse_u64(s, &v) < 0 || v > ID_MAX)
        return false;
    *ret = (unsigned)v;
    return true;
}

/* Splits a colon-separated line into at most n fields in place. */
static size_t fields(char *line, char **f, size_t n)
{
    size_t k = 0;
    f[k++] = line;
    for (char *p = line; *p && k < n; p++)
        if (*p == ':') {
            *p = 0;
            f[k++] = p + 1;
        }
    return k;
}

/* The file, whole, if it is a regular file of a sane size. The sandbox
 * owns its /etc: a FIFO or a terminal there must not stall runra-init,
 * whose loop serves every request, so the open never blocks and anything
 * but a regular file is ignored. */
static char *read_db(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DB_MAX_BYTES)
        return NULL;
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return NULL;
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* Calls fn on each line of path with its fields until fn returns true. */
static bool scan(const char *path, size_t nf, bool (*fn)(char **f, void *ud), void *ud)
{
    _cleanup_free_ char *text = read_db(path);
    if (!text)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[8];
        if (line[0] == '#' || fields(line, f, nf) != nf)
            continue;
        if (fn(f, ud))
            return true;
    }
    return false;
}

struct pw_find {
    const char *name; /* or NULL: by uid */
    unsigned uid;
    struct user_ids *out;
    bool found;
};

static bool pw_match(char **f, void *ud)
{
    struct pw_find *p = ud;
    unsigned uid, gid;
    if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
        return false;
    if (p->name ? strcmp(f[0], p->name) != 0 : uid != p->uid)
        return false;
    p->out->uid = uid;
    p->out->gid = gid;
    snprintf(p->out->name, sizeof(p->out->name), "%s", f[0]);
    snprintf(p->out->home, sizeof(p->out->home), "%s", f[5][0] == '/' ? f[5] : "/");
    return p->found = true;
}

struct gr_find {
    const char *name; /* a group by name, or NULL */
    unsigned gid;
    bool found;
    struct user_ids *members; /* collect the groups a user is in */
};

static bool gr_match(char **f, void *ud)
{
    struct gr_find *g = ud;
    unsigned gid;
    if (!parse_id(f[2], &gid))
        return false;
    if (g->members) {
        struct user_ids *u = g->members;
        char *save = NULL;
        for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
            if (!strcmp(m, u->name) && u->ngroups < USER_GROUPS_MAX && gid != u->gid)
                u->groups[u->ngroups++] = gid;
        return false;
    }
    if (strcmp(f[0], g->name) != 0)
        return false;
    g->gid = gid;
    return g->found = true;
}

int user_resolve(const char *spec, struct user_ids *ret, struct runra_err **err)
{
    struct user_ids u = {.ngroups = 1};
    snprintf(u.name, sizeof(u.name), "root");
    snprintf(u.home, sizeof(u.home), "/root");
    if (!spec || !strcmp(spec, "root") || !strcmp(spec, "0")) {
        *ret = u;
        return 0;
    }
    char who[128], *group = NULL;
    snprintf(who, sizeof(who), "%s", spec);
    char *colon = strchr(who, ':');
    if (colon) {
        *colon = 0;
        group = colon + 1;
    }
    unsigned id;
    struct pw_find pw = {.out = &u};
    if (parse_id(who, &id)) {
        /* A number need not be in passwd (docker's rule): then it has
         * group 0 and / for a home. */
        pw.uid = id;
        if (!scan("/etc/passwd", 7, pw_match, &pw)) {
            u.uid = id;
            u.gid = 0;
            snprintf(u.name, sizeof(u.name), "%u", id);
            snprintf(u.home, sizeof(u.home), "/");
        }
    } else {
        pw.name = who;
        if (!scan("/etc/passwd", 7, pw_match, &pw))
            return err_set(err, ENOENT, "user '%s' is not in the sandbox's /etc/passwd", who);
    }
    if (group) {
        if (parse_id(group, &id)) {
            u.gid = id;
        } else {
            struct gr_find g = {.name = group};
            if (!scan("/etc/group", 4, gr_match, &g))
                return err_set(err, ENOENT, "group '%s' is not in the sandbox's /etc/group",
                               group);
            u.gid = g.gid;
        }
    }
    u.groups[0] = u.gid;
    u.ngroups = 1;
    /* With an explicit group, docker gives no supplementary groups. */
    if (!group && pw.found) {
        struct gr_find g = {.members = &u};
        scan("/etc/group", 4, gr_match, &g);
    }
    *ret = u;
    return 0;
}
