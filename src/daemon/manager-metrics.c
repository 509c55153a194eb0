/* GET /metrics: the daemon's counters and each sandbox's cgroup figures in
 * the Prometheus text format (version 0.0.4). Counters are atomics bumped
 * where things happen; per-sandbox figures are read when scraped. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager-internal.h"

/* Exec latency buckets, in seconds (upper bounds; +Inf is implied). */
static const double exec_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10,   60};
#define NBOUNDS (sizeof(exec_bounds) / sizeof(exec_bounds[0]))

static atomic_ullong created, destroyed, execs, exec_sum_us;
static atomic_ullong exec_buckets[NBOUNDS];

void manager_note_created(void) { atomic_fetch_add(&created, 1); }
void manager_note_destroyed(void) { atomic_fetch_add(&destroyed, 1); }

void manager_note_exec(uint64_t duration_us)
{
    atomic_fetch_add(&execs, 1);
    atomic_fetch_add(&exec_sum_us, duration_us);
    for (size_t i = 0; i < NBOUNDS; i++)
        if ((double)duration_us / 1e6 <= exec_bounds[i]) {
            atomic_fetch_add(&exec_buckets[i], 1);
            break;
        }
}

struct box_row {
    char id[32];
    const char *state;
    struct box_stats st;
    bool have_stats;
    uint64_t denied;
};

int manager_metrics(struct manager *m, char **ret, size_t *ret_len)
{
    /* Snapshot the table under the lock (ids, states, references); read
     * the cgroups without it. */
    pthread_mutex_lock(&m->lock);
    size_t n = 0;
    for (struct sandbox *s = m->list; s; s = s->next)
        n++;
    struct box_row *rows = calloc(n + 1, sizeof(*rows));
    struct sandbox **held = calloc(n + 1, sizeof(*held));
    size_t k = 0;
    for (struct sandbox *s = m->list; rows && held && s; s = s->next) {
        if (s->destroying)
            continue;
        snprintf(rows[k].id, sizeof(rows[k].id), "%s", s->id);
        rows[k].state = manager_state_of(s);
        s->refs++;
        held[k++] = s;
    }
    pthread_mutex_unlock(&m->lock);
    if (!rows || !held) {
        free(rows);
        free(held);
        return -ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        struct sandbox *s = held[i];
        rows[i].have_stats = s->box && s->ops->stats(s->box, &rows[i].st, NULL) >= 0;
        rows[i].denied = manager_net_denied_total(m, s);
        manager_release(m, s);
    }
    free(held);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        free(rows);
        return -ENOMEM;
    }
    static const char *const states[] = {"running", "paused", "stopped", "failed"};
    fputs("# HELP runra_sandboxes Sandboxes by state.\n# TYPE runra_sandboxes gauge\n", f);
    for (size_t s = 0; s < ARRAY_SIZE(states); s++) {
        size_t c = 0;
        for (size_t i = 0; i < k; i++)
            c += !strcmp(rows[i].state, states[s]);
        fprintf(f, "runra_sandboxes{state=\"%s\"} %zu\n", states[s], c);
    }
    fprintf(f,
            "# HELP runra_sandboxes_created_total Sandboxes created.\n"
            "# TYPE runra_sandboxes_created_total counter\n"
            "runra_sandboxes_created_total %llu\n"
            "# HELP runra_sandboxes_destroyed_total Sandboxes destroyed.\n"
            "# TYPE runra_sandboxes_destroyed_total counter\n"
            "runra_sandboxes_destroyed_total %llu\n"
            "# HELP runra_sandboxes_pool Warm sandboxes ready to hand out.\n"
            "# TYPE runra_sandboxes_pool gauge\n"
            "runra_sandboxes_pool %zu\n",
            atomic_load(&created), atomic_load(&destroyed), manager_pool_count(m));
    fputs("# HELP runra_exec_duration_seconds Exec round trips, from request to exit.\n"
          "# TYPE runra_exec_duration_seconds histogram\n",
          f);
    unsigned long long cum = 0;
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += atomic_load(&exec_buckets[i]);
        fprintf(f, "runra_exec_duration_seconds_bucket{le=\"%g\"} %llu\n", exec_bounds[i], cum);
    }
    unsigned long long total = atomic_load(&execs);
    fprintf(f,
            "runra_exec_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
            "runra_exec_duration_seconds_sum %.6f\n"
            "runra_exec_duration_seconds_count %llu\n",
            total, (double)atomic_load(&exec_sum_us) / 1e6, total);
    fputs("# HELP runra_sandbox_cpu_seconds_total CPU time used by a sandbox's processes.\n"
          "# TYPE runra_sandbox_cpu_seconds_total counter\n",
          f);
    for (size_t i = 0; i < k; i++)
        if (rows[i].have_stats)
            fprintf(f, "runra_sandbox_cpu_seconds_total{sandbox=\"%s\"} %.6f\n", rows[i].id,
                    (double)rows[i].st.cpu_usec / 1e6);
    fputs("# HELP runra_sandbox_memory_bytes Memory a sandbox uses now.\n"
          "# TYPE runra_sandbox_memory_bytes gauge\n",
          f);
    for (size_t i = 0; i < k; i++)
        if (rows[i].have_stats)
            fprintf(f, "runra_sandbox_memory_bytes{sandbox=\"%s\"} %llu\n", rows[i].id,
                    (unsigned long long)rows[i].st.memory_bytes);
    fputs("# HELP runra_sandbox_oom_kills_total Processes the kernel killed for a sandbox's "
          "memory limit.\n# TYPE runra_sandbox_oom_kills_total counter\n",
          f);
    for (size_t i = 0; i < k; i++)
        if (rows[i].have_stats)
            fprintf(f, "runra_sandbox_oom_kills_total{sandbox=\"%s\"} %llu\n", rows[i].id,
                    (unsigned long long)rows[i].st.oom_kills);
    fputs("# HELP runra_sandbox_network_denied_total Connections and DNS queries a sandbox "
          "was refused.\n# TYPE runra_sandbox_network_denied_total counter\n",
          f);
    for (size_t i = 0; i < k; i++)
        fprintf(f, "runra_sandbox_network_denied_total{sandbox=\"%s\"} %llu\n", rows[i].id,
                (unsigned long long)rows[i].denied);
    free(rows);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}
