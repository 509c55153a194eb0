/* Round-trip latencies through runrad, measured in one process with
 * librunra so no process start-up is counted: an API no-op (GET sandbox),
 * an exec of `true` in a warm sandbox, and create+destroy. Also the bare
 * host cost of fork+exec+wait of /bin/true, the floor any exec pays.
 * usage: bench-exec SOCKET [N] */
#include <runra/runra.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp);
    int p99 = (int)(0.99 * (n - 1) + 0.5);
    printf("%-34s median %8.3f ms   p99 %8.3f ms   (n=%d)\n", name, v[n / 2] / 1e3,
           v[p99] / 1e3, n);
}

static void die(const char *what, struct runra_error *e)
{
    fprintf(stderr, "bench-exec: %s: %s\n", what, e && e->message ? e->message : "failed");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-exec SOCKET [N]\n");
        return 2;
    }
    int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 300;
    if (n < 10 || n > 100000) {
        fprintf(stderr, "bench-exec: N must be in [10, 100000]\n");
        return 2;
    }
    double *v = calloc((size_t)n, sizeof(double));
    runra_client *c = NULL;
    struct runra_error *e = NULL;
    if (runra_client_new(argv[1], &c, &e) < 0)
        die("connect", e);
    struct runra_sandbox_spec spec = {0};
    struct runra_sandbox *sb = NULL;
    if (runra_sandbox_create(c, &spec, &sb, &e) < 0)
        die("create", e);

    for (int i = 0; i < n; i++) {
        struct runra_sandbox *g = NULL;
        double t = now_us();
        if (runra_sandbox_get(c, sb->id, &g, &e) < 0)
            die("get", e);
        v[i] = now_us() - t;
        runra_sandbox_free(g);
    }
    report("API round trip (GET sandbox)", v, n);

    const char *const targv[] = {"true", NULL};
    struct runra_exec_opts o = {.argv = targv};
    for (int i = 0; i < n + 10; i++) {
        struct runra_exec_result *r = NULL;
        double t = now_us();
        if (runra_sandbox_exec(c, sb->id, &o, &r, &e) < 0)
            die("exec", e);
        double d = now_us() - t;
        if (r->exit_code != 0)
            die("exec exit code", NULL);
        runra_exec_result_free(r);
        if (i >= 10) /* the first execs warm the sandbox's page cache */
            v[i - 10] = d;
    }
    report("exec `true` in a warm sandbox", v, n);

    for (int i = 0; i < n; i++) {
        double t = now_us();
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(p, &st, 0);
        v[i] = now_us() - t;
    }
    report("host fork+exec+wait of /bin/true", v, n);

    int m = n < 100 ? n : 100;
    for (int i = 0; i < m; i++) {
        struct runra_sandbox *s2 = NULL;
        double t = now_us();
        if (runra_sandbox_create(c, &spec, &s2, &e) < 0)
            die("create", e);
        if (runra_sandbox_destroy(c, s2->id, &e) < 0)
            die("destroy", e);
        v[i] = now_us() - t;
        runra_sandbox_free(s2);
        usleep(30000); /* let the pool refill, as between real requests */
    }
    report("create + destroy (warm pool)", v, m);

    runra_sandbox_destroy(c, sb->id, &e);
    runra_sandbox_free(sb);
    runra_client_free(c);
    free(v);
    return 0;
}
