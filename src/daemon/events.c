/* The audit trail (events.h). One mutex orders ids, file lines and the
 * followers' wake-up, so a follower never sees an id before its row. */
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "proto/msg.h"
#include "otlp.h"


struct events {
    struct store *store;
    int fd; /* the JSON-lines file, or -1 */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t last;
    int64_t next_local; /* ids when there is no store */
    struct otlp *otlp;
};

int events_set_otlp(struct events *ev, const char *endpoint, struct runra_err **err)
{
    return otlp_new(endpoint, &ev->otlp, err);
}

int events_new(struct store *store, const char *file, struct events **ret, struct runra_err **err)
{
    struct events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    ev->store = store;
    ev->fd = -1;
    if (file) {
        ev->fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (ev->fd < 0) {
            int r = err_sys(err, errno, "open the events file '%s'", file);
            free(ev);
            return r;
        }
    }
    pthread_mutex_init(&ev->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cond, &ca);
    pthread_condattr_destroy(&ca);
    /* Followers start from the newest id already stored. */
    if (store)
        ev->last = store_event_last(store);
    *ret = ev;
    return 0;
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    otlp_free(ev->otlp);
    if (ev->fd >= 0)
        close(ev->fd);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

struct store *events_store(struct events *ev) { return ev ? ev->store : NULL; }

json_t *events_json(const struct store_event *e)
{
    json_t *data = json_loads(e->data, 0, NULL);
    return json_pack("{s:I,s:o,s:I,s:o,s:s,s:o}", "id", (json_int_t)e->id, "time",
                     msg_time_json(e->time_ms), "timeMs", (json_int_t)e->time_ms, "sandbox",
                     e->sandbox ? json_string(e->sandbox) : json_null(), "type", e->type, "data",
                     data ? data : json_object());
}

void events_emit(struct events *ev, const char *sandbox, const char *type, json_t *data)
{
    if (!ev) {
        json_decref(data);
        return;
    }
    if (!data)
        data = json_object();
    char *text = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!text) {
        json_decref(data);
        return;
    }
    int64_t now = (int64_t)wall_ms();
    pthread_mutex_lock(&ev->lock);
    int64_t id = 0;
    _cleanup_err_ struct runra_err *e = NULL;
    if (ev->store) {
        if (store_event_add(ev->store, now, sandbox, type, text, &id, &e) < 0)
            log_warn("event=audit_failed type=%s err=\"%s\"", type, e && e->msg ? e->msg : "?");
    } else {
        id = ++ev->next_local;
    }
    if (ev->fd >= 0 && id > 0) {
        struct store_event se = {.id = id, .time_ms = now, .sandbox = (char *)sandbox,
                                 .type = (char *)type, .data = text};
        json_t *j = events_json(&se);
        char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (line) {
            size_t n = strlen(line);
            line[n] = '\n'; /* json_dumps leaves room: the NUL becomes the newline */
            if (write_full(ev->fd, line, n + 1) < 0)
                log_warn("event=audit_file_failed type=%s", type);
            free(line);
        }
    }
    if (id > ev->last)
        ev->last = id;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    if (ev->otlp && id > 0)
        otlp_emit(ev->otlp, id, now, sandbox, type, data);
    json_decref(data);
    free(text);
}

int64_t events_wait(struct events *ev, int64_t since, uint64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->lock);
    while (ev->last <= since) {
        if (pthread_cond_timedwait(&ev->cond, &ev->lock, &ts) != 0)
            break;
    }
    int64_t last = ev->last;
    pthread_mutex_unlock(&ev->lock);
    return last;
}
