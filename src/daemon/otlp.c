/* OpenTelemetry export of the audit trail (otlp.h): OTLP/HTTP with the JSON
 * encoding, logs signal. emit only queues; one thread batches, posts and
 * retries, so a slow or dead collector never holds up the API. */
#include "otlp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

#define QUEUE_MAX 10000   /* records waiting; past it the oldest are dropped */
#define BATCH_MAX 200     /* records per request */
#define FLUSH_MS 1000     /* a partial batch waits at most this long */
#define TRIES 4           /* per batch, with backoff 0.5, 1, 2 s */
#define IO_MS 5000        /* connect, send and answer, each */

struct rec {
    json_t *j; /* one logRecord */
    struct rec *next;
};

struct otlp {
    char host[256], port[8], path[512];
    char hostname[256];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct rec *head, *tail;
    size_t n, dropped;
    bool stop;
    pthread_t thread;
};

int otlp_parse_endpoint(const char *url, char host[256], char port[8], char path[512],
                        struct runra_err **err)
{
    if (strncmp(url, "http://", 7) != 0)
        return err_set(err, EINVAL, "--otlp-endpoint must be http://HOST[:PORT][/PATH] "
                                    "(OTLP/HTTP; put a collector next to runrad for TLS)");
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    char hp[300];
    if (hl == 0 || hl >= sizeof(hp))
        return err_set(err, EINVAL, "--otlp-endpoint has no host");
    memcpy(hp, h, hl);
    hp[hl] = 0;
    char *colon = strrchr(hp, ':');
    snprintf(port, 8, "4318");
    if (colon && !strchr(colon, ']')) {
        *colon = 0;
        uint64_t p = 0;
        if (parse_u64(colon + 1, &p) < 0 || p == 0 || p > 65535)
            return err_set(err, EINVAL, "--otlp-endpoint has a bad port");
        snprintf(port, 8, "%u", (unsigned)p);
    }
    if (!hp[0] || strlen(hp) >= 256)
        return err_set(err, EINVAL, "--otlp-endpoint has no host");
    /* [::1] for the URL, ::1 for getaddrinfo. */
    char *h0 = hp;
    if (h0[0] == '[' && h0[strlen(h0) - 1] == ']') {
        h0[strlen(h0) - 1] = 0;
        h0++;
    }
    snprintf(host, 256, "%.255s", h0);
    /* The logs signal's path: the base URL's path plus /v1/logs. */
    const char *base = slash ? slash : "";
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl + 9 >= 512)
        return err_set(err, EINVAL, "--otlp-endpoint path too long");
    snprintf(path, 512, "%.*s/v1/logs", (int)bl, base);
    return 0;
}

static json_t *attr(const char *key, json_t *value)
{
    return json_pack("{s:s,s:o}", "key", key, "value", value);
}

static json_t *any_value(json_t *v)
{
    if (json_is_string(v))
        return json_pack("{s:s}", "stringValue", json_string_value(v));
    if (json_is_integer(v)) {
        char b[32];
        snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_pack("{s:s}", "intValue", b); /* int64 travels as a string in OTLP JSON */
    }
    if (json_is_real(v))
        return json_pack("{s:f}", "doubleValue", json_real_value(v));
    if (json_is_boolean(v))
        return json_pack("{s:b}", "boolValue", json_is_true(v));
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *r = json_pack("{s:s}", "stringValue", t ? t : "");
    free(t);
    return r;
}

void otlp_emit(struct otlp *o, int64_t id, int64_t time_ms, const char *sandbox,
               const char *type, json_t *data)
{
    if (!o)
        return;
    char ns[32];
    snprintf(ns, sizeof(ns), "%lld000000", (long long)time_ms);
    json_t *attrs = json_array();
    json_array_append_new(attrs, attr("event.name", json_pack("{s:s}", "stringValue", type)));
    char idb[32];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    json_array_append_new(attrs, attr("runra.event.id", json_pack("{s:s}", "intValue", idb)));
    if (sandbox)
        json_array_append_new(attrs,
                              attr("runra.sandbox.id", json_pack("{s:s}", "stringValue", sandbox)));
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v)
    {
        char key[128];
        snprintf(key, sizeof(key), "runra.%s", k);
        json_array_append_new(attrs, attr(key, any_value(v)));
    }
    json_t *rec = json_pack("{s:s,s:s,s:i,s:s,s:{s:s},s:o}", "timeUnixNano", ns,
                            "observedTimeUnixNano", ns, "severityNumber", 9, "severityText",
                            "INFO", "body", "stringValue", type, "attributes", attrs);
    if (!rec)
        return;
    struct rec *r = malloc(sizeof(*r));
    if (!r) {
        json_decref(rec);
        return;
    }
    *r = (struct rec){.j = rec};
    pthread_mutex_lock(&o->lock);
    if (o->n >= QUEUE_MAX) {
        struct rec *old = o->head;
        o->head = old->next;
        if (!o->head)
            o->tail = NULL;
        json_decref(old->j);
        free(old);
        o->n--;
        o->dropped++;
    }
    if (o->tail)
        o->tail->next = r;
    else
        o->head = r;
    o->tail = r;
    o->n++;
    if (o->n >= BATCH_MAX)
        pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

static int wait_io(int fd, short ev)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int n = poll(&p, 1, IO_MS);
    return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
}

/* One POST; 0 on a 2xx answer. */
static int post(struct otlp *o, const char *body, size_t len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(o->host, o->port, &hints, &ai) != 0)
        return -EHOSTUNREACH;
    int fd = -1, r = -ECONNREFUSED;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 &&
            (errno != EINPROGRESS || wait_io(fd, POLLOUT) < 0)) {
            close(fd);
            fd = -1;
            continue;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return r;
    char head[1024];
    int hl = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\nUser-Agent: runrad/%s\r\n\r\n",
                      o->path, o->host, o->port, len, RUNRA_VERSION);
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hl, len};
    r = 0;
    for (int i = 0; i < 2 && r == 0; i++) {
        size_t off = 0;
        while (off < lens[i] && r == 0) {
            ssize_t n = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno == EAGAIN)
                r = wait_io(fd, POLLOUT);
            else if (n < 0 && errno != EINTR)
                r = -errno;
        }
    }
    char ans[64] = "";
    size_t got = 0;
    while (r == 0 && got < sizeof(ans) - 1) {
        ssize_t n = recv(fd, ans + got, sizeof(ans) - 1 - got, 0);
        if (n > 0) {
            got += (size_t)n;
            if (memchr(ans, '\n', got))
                break;
        } else if (n == 0) {
            break;
        } else if (errno == EAGAIN) {
            r = wait_io(fd, POLLIN);
        } else if (errno != EINTR) {
            r = -errno;
        }
    }
    close(fd);
    ans[got] = 0;
    int status = 0;
    if (r == 0 && (sscanf(ans, "HTTP/1.%*d %d", &status) != 1 || status < 200 || status > 299))
        r = -EPROTO;
    return r;
}

static char *batch_body(struct otlp *o, json_t *records)
{
    json_t *res_attrs = json_pack(
        "[o,o,o]", attr("service.name", json_pack("{s:s}", "stringValue", "runrad")),
        attr("service.version", json_pack("{s:s}", "stringValue", RUNRA_VERSION)),
        attr("host.name", json_pack("{s:s}", "stringValue", o->hostname)));
    json_t *body = json_pack(
        "{s:[{s:{s:o},s:[{s:{s:s,s:s},s:o}]}]}", "resourceLogs", "resource", "attributes",
        res_attrs, "scopeLogs", "scope", "name", "runra.audit", "version", RUNRA_VERSION,
        "logRecords", records);
    char *t = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return t;
}

static void *exporter(void *arg)
{
    struct otlp *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        if (!o->n && !o->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += FLUSH_MS / 1000;
            pthread_cond_timedwait(&o->cond, &o->lock, &ts);
        } else if (o->n < BATCH_MAX && !o->stop) {
            /* Let a partial batch fill up for a moment. */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 200L * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&o->cond, &o->lock, &ts);
        }
        if (!o->n) {
            if (o->stop)
                break;
            continue;
        }
        json_t *records = json_array();
        size_t taken = 0;
        while (o->head && taken < BATCH_MAX) {
            struct rec *r = o->head;
            o->head = r->next;
            if (!o->head)
                o->tail = NULL;
            json_array_append_new(records, r->j);
            free(r);
            o->n--;
            taken++;
        }
        bool stopping = o->stop;
        pthread_mutex_unlock(&o->lock);
        char *body = batch_body(o, records);
        int r = -ENOMEM;
        int tries = stopping ? 1 : TRIES;
        for (int t = 0; body && t < tries; t++) {
            if ((r = post(o, body, strlen(body))) == 0)
                break;
            if (t + 1 < tries)
                usleep((500u << t) * 1000u);
        }
        if (r < 0)
            log_warn("event=otlp_failed records=%zu err=\"%s\"", taken, strerror(-r));
        free(body);
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int otlp_new(const char *endpoint, struct otlp **ret, struct runra_err **err)
{
    struct otlp *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    int r = otlp_parse_endpoint(endpoint, o->host, o->port, o->path, err);
    if (r < 0) {
        free(o);
        return r;
    }
    if (gethostname(o->hostname, sizeof(o->hostname) - 1) < 0)
        snprintf(o->hostname, sizeof(o->hostname), "unknown");
    pthread_mutex_init(&o->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&o->thread, NULL, exporter, o) != 0) {
        pthread_cond_destroy(&o->cond);
        pthread_mutex_destroy(&o->lock);
        free(o);
        return err_set(err, EAGAIN, "start the OTLP exporter");
    }
    *ret = o;
    return 0;
}

void otlp_free(struct otlp *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stop = true;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    while (o->head) {
        struct rec *r = o->head;
        o->head = r->next;
        json_decref(r->j);
        free(r);
    }
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
    free(o);
}
