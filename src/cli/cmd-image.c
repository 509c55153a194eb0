/* The image commands: pull (per-layer progress bars on a terminal, a line
 * per layer change otherwise, the raw NDJSON events with --json), images,
 * rmi, and `image ls|rm|pull|inspect|import|prune` grouping them as docker
 * does. They parse argv and print; librunra does the talking. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/util.h"
#include "cli.h"
#include "format.h"

const char cli_usage_pull[] =
    "Usage: runra pull [--json] IMAGE\n"
    "Pulls an image from its registry into runrad's store (node:22 means\n"
    "docker.io/library/node:22) and prints its digest. On a terminal each layer\n"
    "gets a progress bar; otherwise a line per layer change.\n"
    "\n"
    "  --json      the pull's events as runrad sends them, one JSON object a line\n";

const char cli_usage_images[] =
    "Usage: runra images [--json] [-q]\n"
    "Lists the images runrad has stored, a row per name.\n"
    "\n"
    "  -q, --quiet   only the digests, one per image\n"
    "  --json        the list as runrad sends it\n";

const char cli_usage_rmi[] =
    "Usage: runra rmi [--force] IMAGE...\n"
    "Removes image names (or, given a digest, the image and all its names) and\n"
    "deletes the layers nothing uses any more. Exits 1 if any could not go.\n"
    "\n"
    "  -f, --force   untag even when a sandbox uses the image (its data stays\n"
    "                until that sandbox is gone)\n";

const char cli_usage_image[] =
    "Usage: runra image COMMAND [ARG...]\n"
    "Manages the images sandboxes are created from (runra create --image IMG).\n"
    "\n"
    "  ls                      list images (runra images)\n"
    "  pull IMAGE              pull an image (runra pull)\n"
    "  rm IMAGE...             remove images (runra rmi)\n"
    "  inspect IMAGE...        print images as JSON\n"
    "  import FILE             store the images of an archive (skopeo's\n"
    "                          oci-archive or docker save's docker-archive)\n"
    "  prune                   delete the layers and blobs no image or sandbox uses\n"
    "\n"
    "Run 'runra image COMMAND --help' for a command's flags.\n";

static const char usage_import[] =
    "Usage: runra image import [--name NAME] [--format FORMAT] FILE\n"
    "Stores the images of an archive, streamed to runrad ('-' reads stdin).\n"
    "\n"
    "  --name NAME       tag the image NAME (else: the names in the archive)\n"
    "  --format FORMAT   auto (default), oci-archive or docker-archive\n"
    "  --json            the stored images as runrad sends them\n";

static const char usage_inspect[] =
    "Usage: runra image inspect IMAGE...\n"
    "Prints an image as JSON (several: a JSON array). IMAGE is a name, a digest\n"
    "or a unique digest prefix of 12 hex digits or more.\n";

static const char usage_prune[] =
    "Usage: runra image prune [--json]\n"
    "Deletes every blob and unpacked layer that no image and no sandbox uses.\n";

/* ---- formatting ------------------------------------------------------------ */

/* Bytes in decimal units, as registries and docker show sizes: "512 B",
 * "12.3 MB". */
static void human_size(uint64_t n, char *out, size_t len)
{
    static const char *const units[] = { "kB", "MB", "GB", "TB" };
    if (n < 1000) {
        snprintf(out, len, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n / 1000;
    size_t u = 0;
    while (v >= 999.95 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1000;
        u++;
    }
    snprintf(out, len, "%.1f %s", v, units[u]);
}

/* "sha256:0123456789abcdef..." -> "0123456789ab". */
static void short_digest(const char *d, char *out, size_t len)
{
    const char *colon = d ? strchr(d, ':') : NULL;
    snprintf(out, len, "%.12s", colon ? colon + 1 : d ? d : "-");
}

/* "3 minutes ago", "1 hour ago", "2 weeks ago". */
static void ago(int64_t then_ms, int64_t now_ms_, char *out, size_t len)
{
    static const struct {
        int64_t secs;
        const char *unit;
    } steps[] = {
        { 365 * 86400, "year" }, { 30 * 86400, "month" }, { 7 * 86400, "week" },
        { 86400, "day" },        { 3600, "hour" },        { 60, "minute" },
        { 1, "second" },
    };
    if (then_ms <= 0) {
        snprintf(out, len, "-");
        return;
    }
    int64_t s = (now_ms_ - then_ms) / 1000;
    if (s < 1) {
        snprintf(out, len, "just now");
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
        if (s >= steps[i].secs) {
            int64_t k = s / steps[i].secs;
            snprintf(out, len, "%" PRId64 " %s%s ago", k, steps[i].unit, k == 1 ? "" : "s");
            return;
        }
}

/* ---- pull ----------------------------------------------------------------- */

enum view_mode { VIEW_JSON, VIEW_TTY, VIEW_PLAIN };

struct layer_row {
    char digest[80];
    enum runra_layer_status status;
    char status_name[24];
    uint64_t current, total;
    char message[160];
    uint64_t printed_ms; /* plain: when its progress was last printed */
};

struct pull_view {
    enum view_mode mode;
    struct layer_row *rows;
    size_t n, cap;
    size_t drawn;          /* tty: the layer lines on screen below the header */
    uint64_t drawn_ms;     /* tty: when they were last drawn */
    bool cursor_hidden;
};

/* The plain form prints a download's progress at most this often per
 * layer, so a log stays readable; every change of status prints at once. */
#define PLAIN_PROGRESS_MS 3000
/* The terminal form redraws progress at most this often. */
#define TTY_REDRAW_MS 100
#define BAR_WIDTH 30

static struct layer_row *row_for(struct pull_view *v, const char *digest)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->rows[i].digest, digest) == 0)
            return &v->rows[i];
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        struct layer_row *r = realloc(v->rows, cap * sizeof(*r));
        if (!r)
            return NULL;
        v->rows = r;
        v->cap = cap;
    }
    struct layer_row *r = &v->rows[v->n++];
    *r = (struct layer_row){ .status = RUNRA_LAYER_OTHER };
    snprintf(r->digest, sizeof(r->digest), "%s", digest);
    return r;
}

static bool has_bytes(const struct layer_row *r)
{
    return r->status == RUNRA_LAYER_DOWNLOADING || r->status == RUNRA_LAYER_RETRY ||
           r->status == RUNRA_LAYER_DOWNLOADED || r->status == RUNRA_LAYER_EXTRACTING ||
           (r->status == RUNRA_LAYER_DONE && r->total);
}

/* One layer's line on a terminal: short digest, a bar, bytes, status. */
static void tty_line(const struct layer_row *r, char *out, size_t len)
{
    char id[16], cur[32], tot[32], bar[BAR_WIDTH + 3];
    short_digest(r->digest, id, sizeof(id));
    if (!has_bytes(r)) {
        snprintf(out, len, "%s  %s", id, r->status_name);
        return;
    }
    bool full = r->status != RUNRA_LAYER_DOWNLOADING && r->status != RUNRA_LAYER_RETRY;
    size_t fill = full ? BAR_WIDTH
                  : r->total ? (size_t)((double)r->current / (double)r->total * BAR_WIDTH)
                             : 0;
    if (fill > BAR_WIDTH)
        fill = BAR_WIDTH;
    bar[0] = '[';
    for (size_t i = 0; i < BAR_WIDTH; i++)
        bar[1 + i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[BAR_WIDTH + 1] = ']';
    bar[BAR_WIDTH + 2] = '\0';
    human_size(full && r->total ? r->total : r->current, cur, sizeof(cur));
    if (r->total)
        human_size(r->total, tot, sizeof(tot));
    else
        snprintf(tot, sizeof(tot), "?");
    if (r->status == RUNRA_LAYER_RETRY)
        snprintf(out, len, "%s  %s  %s/%s  retrying: %s", id, bar, cur, tot, r->message);
    else
        snprintf(out, len, "%s  %s  %s/%s  %s", id, bar, cur, tot, r->status_name);
}

static unsigned term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Moves the cursor up over the lines drawn last time and draws them all
 * again, each cut to the terminal's width so that none wraps (a wrapped
 * line would throw the cursor-up count off). */
static void tty_redraw(struct pull_view *v)
{
    unsigned cols = term_cols();
    if (!v->cursor_hidden) {
        fputs("\033[?25l", stdout);
        v->cursor_hidden = true;
    }
    if (v->drawn)
        printf("\033[%zuA", v->drawn);
    for (size_t i = 0; i < v->n; i++) {
        char line[512];
        tty_line(&v->rows[i], line, sizeof(line));
        if (cols > 1 && strlen(line) > cols - 1)
            line[cols - 1] = '\0';
        printf("\r\033[2K%s\n", line);
    }
    v->drawn = v->n;
    v->drawn_ms = now_ms();
    fflush(stdout);
}

/* The last draw, with every layer's final state, and the cursor back.
 * Once is enough: a second call (after the "done" event) does nothing. */
static void tty_finish(struct pull_view *v)
{
    if (!v->cursor_hidden)
        return;
    tty_redraw(v);
    fputs("\033[?25h", stdout);
    v->cursor_hidden = false;
    fflush(stdout);
}

static void plain_line(struct layer_row *r)
{
    char cur[32], tot[32];
    human_size(r->current, cur, sizeof(cur));
    human_size(r->total, tot, sizeof(tot));
    printf("%.19s: %s", r->digest, r->status_name);
    if (r->status == RUNRA_LAYER_DOWNLOADING)
        printf(" %s%s%s", cur, r->total ? " of " : "", r->total ? tot : "");
    else if (r->status == RUNRA_LAYER_DOWNLOADED || (r->status == RUNRA_LAYER_DONE && r->total))
        printf(" %s", r->total ? tot : cur);
    else if (r->status == RUNRA_LAYER_RETRY)
        printf(" after %s: %s", cur, r->message);
    putchar('\n');
    fflush(stdout);
    r->printed_ms = now_ms();
}

static int on_pull_event(void *ud, const struct runra_pull_event *ev)
{
    struct pull_view *v = ud;
    if (v->mode == VIEW_JSON) {
        printf("%s\n", ev->line);
        fflush(stdout);
        return 0;
    }
    if (ev->kind == RUNRA_PULL_STARTED || ev->kind == RUNRA_PULL_WAITING ||
        ev->kind == RUNRA_PULL_RESOLVED) {
        /* Header lines go above the layer lines, so only before any. */
        if (v->mode == VIEW_TTY && v->drawn)
            return 0;
        if (ev->kind == RUNRA_PULL_STARTED)
            printf("Pulling %s\n", ev->image ? ev->image : "image");
        else if (ev->kind == RUNRA_PULL_WAITING)
            printf("Waiting for the pull of %s already running\n",
                   ev->image ? ev->image : "it");
        else
            printf("Resolved %s\n", ev->digest ? ev->digest : "-");
        fflush(stdout);
        return 0;
    }
    if (ev->kind == RUNRA_PULL_DONE || ev->kind == RUNRA_PULL_ERROR) {
        if (v->mode == VIEW_TTY)
            tty_finish(v);
        return 0;
    }
    if (ev->kind != RUNRA_PULL_LAYER || !ev->digest)
        return 0;
    struct layer_row *r = row_for(v, ev->digest);
    if (!r)
        return 0; /* out of memory: the display skips it, the pull goes on */
    bool changed = r->status != ev->status ||
                   strcmp(r->status_name, ev->status_name ? ev->status_name : "") != 0;
    r->status = ev->status;
    snprintf(r->status_name, sizeof(r->status_name), "%s",
             ev->status_name ? ev->status_name : "?");
    r->current = ev->current;
    if (ev->total || r->status != RUNRA_LAYER_DOWNLOADING)
        r->total = ev->total ? ev->total : r->total;
    snprintf(r->message, sizeof(r->message), "%s", ev->message ? ev->message : "");
    if (v->mode == VIEW_TTY) {
        if (changed || r - v->rows >= (ptrdiff_t)v->drawn || now_ms() - v->drawn_ms >= TTY_REDRAW_MS)
            tty_redraw(v);
    } else if (changed || (r->status == RUNRA_LAYER_DOWNLOADING &&
                           now_ms() - r->printed_ms >= PLAIN_PROGRESS_MS))
        plain_line(r);
    return 0;
}

/* One positional argument, the common flags and opts. 0 to go on, or the
 * exit code (usage printed, or an error). */
static int parse_args(struct cli *cli, int argc, char **argv, const char *cmd, const char *usage,
                      const struct simple_opt *opts, size_t n_opts, int min, int max,
                      char ***ret_pos, int *ret_npos)
{
    struct cli_common co = { 0 };
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, opts, n_opts, &co, ret_pos, ret_npos, &perr);
    if (r >= 0 && !co.help && *ret_npos < min)
        r = err_set(&perr, EINVAL, min == 1 && max == 1 ? "expected one IMAGE" : "no IMAGE given");
    if (r >= 0 && !co.help && max >= 0 && *ret_npos > max)
        r = err_set(&perr, EINVAL, "unexpected argument '%s'", (*ret_pos)[max]);
    if (r < 0)
        return cli_usage_error(cmd, perr->msg);
    if (co.help) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    return -1;
}

int cmd_pull(struct cli *cli, int argc, char **argv)
{
    char **pos;
    int npos;
    int done = parse_args(cli, argc, argv, "pull", cli_usage_pull, NULL, 0, 1, 1, &pos, &npos);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;

    struct pull_view v = { .mode = cli->json             ? VIEW_JSON
                                   : isatty(STDOUT_FILENO) ? VIEW_TTY
                                                           : VIEW_PLAIN };
    /* ^C (or TERM, HUP) drops the connection and ends the pull cleanly:
     * the cursor comes back and the exit code says which signal. */
    cli_catch_signals();
    runra_client_set_cancel(c, cli_signal_cancel, NULL);
    struct runra_error *e = NULL;
    struct runra_image *img = NULL;
    int r = runra_image_pull(c, pos[0], on_pull_event, &v, &img, &e);
    runra_client_set_cancel(c, NULL, NULL);
    if (v.mode == VIEW_TTY)
        tty_finish(&v);
    free(v.rows);
    int rc = CLI_OK;
    if (cli_signal_caught()) {
        cli_failf("pull %s: interrupted", pos[0]);
        rc = 128 + cli_signal_caught();
    } else if (r < 0) {
        rc = cli_fail(e, "pull %s", pos[0]);
    } else if (v.mode != VIEW_JSON) {
        printf("Pulled %s\nDigest: %s\n", img->n_names ? img->names[0] : pos[0], img->digest);
    }
    runra_error_free(e);
    runra_image_free(img);
    return rc;
}

/* ---- images --------------------------------------------------------------- */

static int by_stored_desc(const void *a, const void *b)
{
    const struct runra_image *x = *(const struct runra_image *const *)a;
    const struct runra_image *y = *(const struct runra_image *const *)b;
    if (x->stored_ms != y->stored_ms)
        return x->stored_ms < y->stored_ms ? 1 : -1;
    return strcmp(x->digest, y->digest);
}

static void print_images(const struct runra_image_list *l)
{
    /* Newest first, as docker lists them. */
    _cleanup_free_ const struct runra_image **sorted = calloc(l->n + 1, sizeof(*sorted));
    if (!sorted)
        return;
    for (size_t i = 0; i < l->n; i++)
        sorted[i] = &l->items[i];
    qsort(sorted, l->n, sizeof(*sorted), by_stored_desc);
    struct table t;
    table_init(&t, 5);
    static const char *const head[] = { "NAME", "DIGEST", "SIZE", "LAYERS", "STORED" };
    table_add(&t, head);
    int64_t now = (int64_t)wall_ms();
    for (size_t i = 0; i < l->n; i++) {
        const struct runra_image *im = sorted[i];
        char dig[16], size[32], layers[24], stored[48];
        short_digest(im->digest, dig, sizeof(dig));
        human_size(im->size, size, sizeof(size));
        snprintf(layers, sizeof(layers), "%" PRIu64, im->layers);
        ago(im->stored_ms, now, stored, sizeof(stored));
        for (size_t k = 0; k < im->n_names || (k == 0 && im->n_names == 0); k++) {
            const char *row[] = { im->n_names ? im->names[k] : "<none>", dig, size, layers,
                                  stored };
            table_add(&t, row);
        }
    }
    table_print(&t, stdout);
    table_done(&t);
}

static int images(struct cli *cli, int argc, char **argv, const char *cmd)
{
    bool quiet = false;
    const struct simple_opt opts[] = { { .name = "quiet", .short_name = 'q', .flag = &quiet } };
    char **pos;
    int npos;
    int done = parse_args(cli, argc, argv, cmd, cli_usage_images, opts, ARRAY_SIZE(opts), 0, 0,
                          &pos, &npos);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    struct runra_image_list *l = NULL;
    if (runra_image_list(c, &l, &e) < 0) {
        int rc = cli_fail(e, "%s", cmd);
        runra_error_free(e);
        return rc;
    }
    if (cli->json)
        cli_print_json(l->json);
    else if (quiet)
        for (size_t i = 0; i < l->n; i++)
            printf("%s\n", l->items[i].digest);
    else
        print_images(l);
    runra_image_list_free(l);
    return CLI_OK;
}

int cmd_images(struct cli *cli, int argc, char **argv) { return images(cli, argc, argv, "images"); }

/* ---- rmi ------------------------------------------------------------------ */

static void print_reclaimed(const struct runra_image_reclaimed *rc)
{
    printf("reclaimed %" PRIu64 " blob%s, %" PRIu64 " layer%s\n", rc->blobs,
           rc->blobs == 1 ? "" : "s", rc->layers, rc->layers == 1 ? "" : "s");
}

static bool in_strv(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* The image with this digest in a list, or NULL. */
static const struct runra_image *find_digest(const struct runra_image_list *l, const char *d)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->items[i].digest, d) == 0)
            return &l->items[i];
    return NULL;
}

static int rmi(struct cli *cli, int argc, char **argv, const char *cmd)
{
    bool force = false;
    const struct simple_opt opts[] = { { .name = "force", .short_name = 'f', .flag = &force } };
    char **pos;
    int npos;
    int done = parse_args(cli, argc, argv, cmd, cli_usage_rmi, opts, ARRAY_SIZE(opts), 1, -1,
                          &pos, &npos);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    int rc = CLI_OK;
    json_auto_t *out = json_array();
    for (int i = 0; i < npos; i++) {
        struct runra_error *e = NULL;
        struct runra_image *gone = NULL;
        struct runra_image_list *now = NULL;
        struct runra_image_reclaimed rec;
        if (runra_image_remove(c, pos[i], force, &gone, &rec, &e) < 0) {
            rc = cli_fail(e, "%s %s", cmd, pos[i]);
            runra_error_free(e);
            continue;
        }
        /* The answer holds the image as it was. What went: the names it no
         * longer has, and the image itself when no image has its digest
         * any more. Without the list, only the named image is reported. */
        bool listed = runra_image_list(c, &now, &e) >= 0;
        runra_error_free(e);
        const struct runra_image *left = listed ? find_digest(now, gone->digest) : gone;
        bool deleted = !left;
        if (cli->json) {
            json_error_t je;
            json_t *o = json_pack("{s:s,s:o,s:b,s:{s:I,s:I}}", "image", pos[i], "removed",
                                  json_loads(gone->json, 0, &je), "deleted", deleted,
                                  "reclaimed", "blobs", (json_int_t)rec.blobs, "layers",
                                  (json_int_t)rec.layers);
            if (o)
                json_array_append_new(out, o);
        } else {
            bool named = false;
            for (size_t k = 0; k < gone->n_names; k++)
                if (!left || (listed ? !in_strv(left->names, gone->names[k])
                                     : strcmp(gone->names[k], pos[i]) == 0)) {
                    printf("removed %s\n", gone->names[k]);
                    named = true;
                }
            if (!named && !deleted)
                printf("removed %s\n", pos[i]);
            if (deleted)
                printf("deleted %s\n", gone->digest);
            print_reclaimed(&rec);
        }
        runra_image_list_free(now);
        runra_image_free(gone);
    }
    if (cli->json) {
        _cleanup_free_ char *s = json_dumps(out, JSON_COMPACT);
        cli_print_json(s);
    }
    return rc;
}

int cmd_rmi(struct cli *cli, int argc, char **argv) { return rmi(cli, argc, argv, "rmi"); }

/* ---- image inspect, import, prune ------------------------------------------ */

static int inspect(struct cli *cli, int argc, char **argv)
{
    char **pos;
    int npos;
    int done = parse_args(cli, argc, argv, "image inspect", usage_inspect, NULL, 0, 1, -1, &pos,
                          &npos);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    int rc = CLI_OK;
    json_auto_t *all = json_array();
    for (int i = 0; i < npos; i++) {
        struct runra_error *e = NULL;
        struct runra_image *img = NULL;
        if (runra_image_inspect(c, pos[i], &img, &e) < 0) {
            rc = cli_fail(e, "image inspect %s", pos[i]);
            runra_error_free(e);
            continue;
        }
        cli_json_each(all, (size_t)npos, img->json);
        runra_image_free(img);
    }
    cli_json_each_end(all, (size_t)npos);
    return rc;
}

static int import(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL, *format = NULL;
    const struct simple_opt opts[] = {
        { .name = "name", .has_arg = true, .value = &name },
        { .name = "format", .has_arg = true, .value = &format },
    };
    char **pos;
    int npos;
    int done = parse_args(cli, argc, argv, "image import", usage_import, opts, ARRAY_SIZE(opts),
                          1, 1, &pos, &npos);
    if (done >= 0)
        return done;
    if (format && strcmp(format, "auto") != 0 && strcmp(format, "oci-archive") != 0 &&
        strcmp(format, "docker-archive") != 0)
        return cli_usage_error("image import",
                               "--format takes auto, oci-archive or docker-archive");
    if (name && !*name)
        return cli_usage_error("image import", "--name is empty");
    bool from_stdin = strcmp(pos[0], "-") == 0;
    _cleanup_close_ int fd = from_stdin ? -1 : open(pos[0], O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (!from_stdin && fd < 0)
        return cli_failf("image import: '%s': %s", pos[0], strerror(errno));
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    cli_catch_signals();
    runra_client_set_cancel(c, cli_signal_cancel, NULL);
    const struct runra_image_import_opts o = { .format = format, .name = name };
    struct runra_error *e = NULL;
    struct runra_image_list *l = NULL;
    int r = runra_image_import_fd(c, from_stdin ? STDIN_FILENO : fd, &o, &l, &e);
    runra_client_set_cancel(c, NULL, NULL);
    int rc = CLI_OK;
    if (cli_signal_caught()) {
        cli_failf("image import %s: interrupted", pos[0]);
        rc = 128 + cli_signal_caught();
    } else if (r < 0)
        rc = cli_fail(e, "image import %s", pos[0]);
    else if (cli->json)
        cli_print_json(l->json);
    else
        for (size_t i = 0; i < l->n; i++) {
            const struct runra_image *im = &l->items[i];
            for (size_t k = 0; k < im->n_names; k++)
                printf("imported %s (%s)\n", im->names[k], im->digest);
            if (!im->n_names)
                printf("imported %s\n", im->digest);
        }
    runra_error_free(e);
    runra_image_list_free(l);
    return rc;
}

static int prune(struct cli *cli, int argc, char **argv)
{
    char **pos;
    int npos;
    int done = parse_args(cli, argc, argv, "image prune", usage_prune, NULL, 0, 0, 0, &pos, &npos);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    struct runra_image_reclaimed rec;
    if (runra_image_prune(c, &rec, &e) < 0) {
        int rc = cli_fail(e, "image prune");
        runra_error_free(e);
        return rc;
    }
    if (cli->json)
        printf("{\"reclaimed\":{\"blobs\":%" PRIu64 ",\"layers\":%" PRIu64 "}}\n", rec.blobs,
               rec.layers);
    else
        print_reclaimed(&rec);
    return CLI_OK;
}

int cmd_image(struct cli *cli, int argc, char **argv)
{
    /* The subcommand comes first; global-looking flags before it are the
     * group's own (--help, --json, --socket). */
    int i = 1;
    struct cli_common co = { 0 };
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            co.help = true;
        else if (strcmp(argv[i], "--json") == 0)
            co.json = true;
        else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            co.socket = argv[++i];
        else if (strncmp(argv[i], "--socket=", 9) == 0)
            co.socket = argv[i] + 9;
        else {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown option '%s'", argv[i]);
            return cli_usage_error("image", msg);
        }
    }
    if (co.help || i >= argc) {
        fputs(cli_usage_image, co.help ? stdout : stderr);
        return co.help ? CLI_OK : CLI_USAGE;
    }
    cli_apply_common(cli, &co);
    static const struct {
        const char *name;
        int (*run)(struct cli *cli, int argc, char **argv);
    } subs[] = {
        { "ls", cmd_images }, { "list", cmd_images }, { "pull", cmd_pull },
        { "rm", cmd_rmi },    { "inspect", inspect }, { "import", import },
        { "prune", prune },
    };
    for (size_t k = 0; k < ARRAY_SIZE(subs); k++)
        if (strcmp(argv[i], subs[k].name) == 0)
            return subs[k].run(cli, argc - i, argv + i);
    char msg[160];
    snprintf(msg, sizeof(msg), "unknown command 'image %s'", argv[i]);
    return cli_usage_error("image", msg);
}
