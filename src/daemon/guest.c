/* Guest stream demultiplexer. The guest is hostile: frames are bounded by
 * the codec, frames for unknown calls are dropped, and each call's queue is
 * bounded; when a consumer falls behind, the reader waits (back-pressure on
 * the guest) instead of buffering without limit. A malformed frame kills the
 * stream, failing every call with EPIPE. */
#include "guest.h"

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define CALL_QUEUE_MAX (8u << 20)

struct qnode {
    struct qnode *next;
    struct guest_frame *f;
};

struct guest_call {
    struct guest *g;
    uint32_t id;
    struct qnode *head, *tail;
    size_t queued;
    bool finished; /* final frame received from the guest */
    bool returned_final;
    bool ended;    /* consumer gone; the reader drops this call's frames */
    struct guest_call *next;
};

struct guest {
    int fd;
    char *label;
    pthread_t reader;
    pthread_mutex_t lock;
    pthread_cond_t cond;   /* any queue changed, or the stream died */
    pthread_mutex_t wlock; /* one writer at a time */
    struct guest_call *calls;
    size_t ncalls;
    uint32_t next_id;
    bool dead;
    bool joined; /* the reader has been joined (a reconnect starts another) */
};

static bool is_final(uint16_t type)
{
    return type == FRAME_RESULT || type == FRAME_ERROR || type == FRAME_EXIT;
}

static struct guest_call *find_call(struct guest *g, uint32_t id)
{
    for (struct guest_call *c = g->calls; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* Gives c a free id and puts it in g's table (g->lock held). */
static void link_call_locked(struct guest *g, struct guest_call *c)
{
    do {
        c->id = g->next_id++;
    } while (c->id == 0 || find_call(g, c->id));
    c->g = g;
    c->next = g->calls;
    g->calls = c;
    g->ncalls++;
}

/* Takes c out of g's table (g->lock held). */
static void unlink_call_locked(struct guest *g, struct guest_call *c)
{
    for (struct guest_call **p = &g->calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            g->ncalls--;
            return;
        }
}

static int start_reader(struct guest *g);

static void *reader_main(void *arg)
{
    struct guest *g = arg;
    uint8_t *buf = malloc(RUNRA_FRAME_MAX_PAYLOAD);
    for (;;) {
        struct frame_hdr h;
        if (!buf || frame_read(g->fd, &h, buf) < 0)
            break;
        /* Frames the guest may send; anything else is a protocol violation. */
        if (!(h.type == FRAME_RESULT || h.type == FRAME_ERROR || h.type == FRAME_EXIT ||
              h.type == FRAME_STDOUT || h.type == FRAME_STDERR || h.type == FRAME_DATA ||
              h.type == FRAME_HELLO || h.type == FRAME_TCP_ACK))
            break;
        if (h.id == 0) {
            /* A HELLO here is one the handshake did not read (a sandbox
             * reattached while frozen says it once thawed): a runra-init of
             * another protocol version ends the stream. */
            struct hello_msg hm;
            if (h.type == FRAME_HELLO &&
                (msg_hello_decode(buf, h.len, &hm, NULL) < 0 || hm.version != FRAME_PROTO_VERSION))
                break;
            continue;
        }
        struct guest_frame *f = malloc(sizeof(*f) + h.len + 1);
        if (!f)
            break;
        f->type = h.type;
        f->len = h.len;
        memcpy(f->data, buf, h.len);
        f->data[h.len] = 0;
        struct qnode *n = malloc(sizeof(*n));
        if (!n) {
            free(f);
            break;
        }
        n->next = NULL;
        n->f = f;

        pthread_mutex_lock(&g->lock);
        struct guest_call *c = find_call(g, h.id);
        while (c && !c->ended && !g->dead && c->queued > CALL_QUEUE_MAX) {
            pthread_cond_wait(&g->cond, &g->lock);
            c = find_call(g, h.id);
        }
        if (!c || c->ended || c->finished) {
            pthread_mutex_unlock(&g->lock);
            free(f);
            free(n);
            continue;
        }
        if (c->tail)
            c->tail->next = n;
        else
            c->head = n;
        c->tail = n;
        c->queued += h.len;
        if (is_final(h.type))
            c->finished = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
    }
    free(buf);
    pthread_mutex_lock(&g->lock);
    g->dead = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int guest_new(int fd, const char *label, struct guest **ret, struct runra_err **err)
{
    struct guest *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->fd = fd;
    g->label = strdup(label ? label : "");
    g->next_id = 1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_mutex_init(&g->wlock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    int r = -start_reader(g);
    if (r != 0) {
        g->fd = -1;
        free(g->label);
        free(g);
        return err_sys(err, r, "start guest reader");
    }
    *ret = g;
    return 0;
}

static void free_queue(struct guest_call *c)
{
    struct qnode *n = c->head;
    while (n) {
        struct qnode *next = n->next;
        free(n->f);
        free(n);
        n = next;
    }
    c->head = c->tail = NULL;
    c->queued = 0;
}

static int start_reader(struct guest *g)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int r = pthread_create(&g->reader, &attr, reader_main, g);
    pthread_attr_destroy(&attr);
    return -r;
}

int guest_quiesce(struct guest *g, uint64_t timeout_ms, struct runra_err **err)
{
    struct guest_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    pthread_mutex_lock(&g->wlock);
    /* A PING on a call of its own, the last frame before the pause: its
     * answer means the guest has read everything up to it. */
    pthread_mutex_lock(&g->lock);
    bool dead = g->dead;
    if (!dead) {
        link_call_locked(g, c);
    }
    pthread_mutex_unlock(&g->lock);
    if (dead) {
        pthread_mutex_unlock(&g->wlock);
        free(c);
        return err_set(err, EPIPE, "sandbox is not reachable (runra-init is gone)");
    }
    int r = frame_write(g->fd, FRAME_PING, c->id, NULL, 0);
    struct guest_frame *f = NULL;
    if (r >= 0)
        r = guest_call_recv(c, now_ms() + timeout_ms, &f);
    free(f);
    /* Ended by hand: guest_call_end would send CANCEL, and wlock is ours. */
    pthread_mutex_lock(&g->lock);
    unlink_call_locked(g, c);
    free_queue(c);
    pthread_mutex_unlock(&g->lock);
    free(c);
    if (r < 0) {
        pthread_mutex_unlock(&g->wlock);
        return err_set(err, r == -ETIMEDOUT ? EBUSY : EPIPE,
                       r == -ETIMEDOUT ? "the sandbox's runra-init did not catch up in time"
                                       : "sandbox is not reachable (runra-init is gone)");
    }
    return 0;
}

void guest_unquiesce(struct guest *g) { pthread_mutex_unlock(&g->wlock); }

int guest_reconnect(struct guest *g, int fd, struct runra_err **err)
{
    shutdown(g->fd, SHUT_RDWR);
    if (!g->joined) {
        pthread_join(g->reader, NULL);
        g->joined = true;
    }
    pthread_mutex_lock(&g->wlock);
    close(g->fd);
    g->fd = fd;
    pthread_mutex_lock(&g->lock);
    g->dead = false;
    pthread_mutex_unlock(&g->lock);
    int r = start_reader(g);
    if (r < 0) {
        pthread_mutex_lock(&g->lock);
        g->dead = true;
        pthread_mutex_unlock(&g->lock);
        pthread_mutex_unlock(&g->wlock);
        return err_sys(err, r, "start guest reader");
    }
    g->joined = false;
    pthread_mutex_unlock(&g->wlock);
    return 0;
}

void guest_free(struct guest *g)
{
    if (!g)
        return;
    /* shutdown() wakes a reader blocked in read(); the fd is closed after
     * the join so its number cannot be reused underneath the reader. */
    shutdown(g->fd, SHUT_RDWR);
    pthread_mutex_lock(&g->lock);
    g->dead = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    if (!g->joined)
        pthread_join(g->reader, NULL);
    close(g->fd);
    /* Calls still open belong to consumers that will see EPIPE and call
     * guest_call_end; the manager only frees a guest after its users left. */
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->wlock);
    pthread_cond_destroy(&g->cond);
    free(g->label);
    free(g);
}

void guest_shutdown(struct guest *g)
{
    shutdown(g->fd, SHUT_RDWR);
    pthread_mutex_lock(&g->lock);
    g->dead = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

bool guest_alive(struct guest *g)
{
    pthread_mutex_lock(&g->lock);
    bool alive = !g->dead;
    pthread_mutex_unlock(&g->lock);
    return alive;
}

static int send_frame(struct guest *g, uint16_t type, uint32_t id, const void *p, size_t len)
{
    pthread_mutex_lock(&g->wlock);
    int r = frame_write(g->fd, type, id, p, len);
    pthread_mutex_unlock(&g->wlock);
    return r;
}

int guest_call_start(struct guest *g, uint16_t type, const void *payload, size_t len,
                     struct guest_call **ret, struct runra_err **err)
{
    struct guest_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    pthread_mutex_lock(&g->lock);
    if (g->dead) {
        pthread_mutex_unlock(&g->lock);
        free(c);
        return err_set(err, EPIPE, "sandbox is not reachable (runra-init is gone)");
    }
    if (g->ncalls >= RUNRA_CALLS_MAX) {
        pthread_mutex_unlock(&g->lock);
        free(c);
        return err_set(err, EAGAIN, "too many concurrent operations on this sandbox (max %d)",
                       RUNRA_CALLS_MAX);
    }
    link_call_locked(g, c);
    pthread_mutex_unlock(&g->lock);
    int r = send_frame(g, type, c->id, payload, len);
    if (r < 0) {
        guest_call_end(c);
        return err_set(err, EPIPE, "send to sandbox: %s", strerror(-r));
    }
    *ret = c;
    return 0;
}

int guest_call_send(struct guest_call *c, uint16_t type, const void *payload, size_t len)
{
    return send_frame(c->g, type, c->id, payload, len);
}

int guest_call_recv(struct guest_call *c, uint64_t deadline_ms, struct guest_frame **ret)
{
    struct guest *g = c->g;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        if (c->head) {
            struct qnode *n = c->head;
            c->head = n->next;
            if (!c->head)
                c->tail = NULL;
            c->queued -= n->f->len;
            struct guest_frame *f = n->f;
            free(n);
            if (is_final(f->type))
                c->returned_final = true;
            pthread_cond_broadcast(&g->cond); /* room for the reader */
            pthread_mutex_unlock(&g->lock);
            *ret = f;
            return 0;
        }
        if (c->returned_final) {
            pthread_mutex_unlock(&g->lock);
            return -ENODATA;
        }
        if (g->dead) {
            pthread_mutex_unlock(&g->lock);
            return -EPIPE;
        }
        if (deadline_ms) {
            uint64_t now = now_ms();
            if (now >= deadline_ms) {
                pthread_mutex_unlock(&g->lock);
                return -ETIMEDOUT;
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t wait = deadline_ms - now;
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        } else {
            pthread_cond_wait(&g->cond, &g->lock);
        }
    }
}

bool guest_call_finished(struct guest_call *c)
{
    pthread_mutex_lock(&c->g->lock);
    bool f = c->finished;
    pthread_mutex_unlock(&c->g->lock);
    return f;
}

void guest_call_end(struct guest_call *c)
{
    if (!c)
        return;
    struct guest *g = c->g;
    pthread_mutex_lock(&g->lock);
    bool finished = c->finished, dead = g->dead;
    unlink_call_locked(g, c);
    c->ended = true;
    free_queue(c);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    if (!finished && !dead)
        send_frame(g, FRAME_CANCEL, c->id, NULL, 0);
    free(c);
}

int guest_frame_error(const struct guest_frame *f, const char *what, struct runra_err **err)
{
    struct guest_error ge = {0};
    _cleanup_err_ struct runra_err *e = NULL;
    if (msg_error_decode(f->data, f->len, &ge, &e) < 0)
        return err_set(err, EPROTO, "%s: sandbox sent a malformed error", what);
    int r = err_set(err, ge.err, "%s", ge.message);
    msg_guest_error_done(&ge);
    return r;
}
