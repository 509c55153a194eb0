/* runrad: the root daemon. It parses its flags, takes its state dir, moves
 * into a private mount namespace (so every mount it makes for a sandbox is
 * invisible to the host and dies with it), serves the API until SIGTERM, and
 * then destroys every sandbox it started. */
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "backend/ns/ns.h"
#include "backend/vm/vm.h"
#include "base/log.h"
#include "base/util.h"
#include "egress.h"
#include "events.h"
#include "keys.h"
#include "http.h"
#include "images.h"
#include "manager.h"
#include "proto/limits.h"
#include "router.h"
#include "secrets.h"
#include "store/store.h"

static void usage(FILE *f)
{
    fputs("usage: runrad [options]\n"
          "  --state-dir DIR      state directory (default /var/lib/runra)\n"
          "  --socket PATH        API socket (default DIR/runra.sock)\n"
          "  --init PATH          runra-init binary (default: found next to runrad)\n"
          "  --exec-timeout SEC   default exec timeout (default 600)\n"
          "  --max-output BYTES   default output kept per stream (default 1048576)\n"
          "  --pool N             warm sandboxes kept ready for creates (default 2, 0 = none)\n"
          "  --net-range CIDR     private IPv4 range for sandbox networks (default 10.88.0.0/16)\n"
          "  --dns ADDR[:PORT]    upstream resolver for sandboxes (default: /etc/resolv.conf's)\n"
          "  --no-network         no network access for any sandbox (mode none only)\n"
          "  --events-file PATH   also append every audit event to PATH as JSON lines\n"
          "  --listen HOST:PORT   also serve the API on TCP, for API keys (runra keys)\n"
          "  --otlp-endpoint URL  also send audit events to an OTLP/HTTP collector\n"
          "                       (http://HOST[:PORT][/BASE]; POSTs BASE/v1/logs)\n"
          "  --no-keep-sandboxes  destroy every sandbox on exit (default: they keep running\n"
          "                       and the next runrad on this state dir takes them back)\n"
          "  --secrets-key PATH   key sealing sandbox secrets in the store (default\n"
          "                       /run/runra/secrets-HASH.key, on tmpfs: never on disk)\n"
          "  --vm-cache DIR       the VM backend's guest kernel, initramfs and root disks\n"
          "                       (default STATE/vm; may be shared by several runrads)\n"
          "  --no-vm-templates    boot every VM sandbox (default: restore a saved VM of\n"
          "                       the same shape, made on its second create)\n"
          "  --config PATH        runrad's config file: registry mirrors and plain-HTTP\n"
          "                       registries (default /etc/runra/runrad.json, if present)\n"
          "  --log-level LEVEL    debug|info|warn|error (default info)\n"
          "  --list-routes        print the API routes and exit\n"
          "  --version            print the version and exit\n",
          f);
}

static void on_denied(void *ud, const char *sandbox, json_t *record)
{
    events_emit(ud, sandbox, "network.denied", record);
}

static int find_init(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        return -errno;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    *slash = 0;
    const char *candidates[] = {"runra-init", "../guest/runra-init",
                                "../libexec/runra/runra-init"};
    for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
        if ((size_t)snprintf(buf, len, "%s/%s", self, candidates[i]) >= len)
            continue;
        if (access(buf, X_OK) == 0)
            return 0;
    }
    snprintf(buf, len, "/usr/libexec/runra/runra-init");
    return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

int main(int argc, char **argv)
{
    const char *state_dir = "/var/lib/runra", *socket_opt = NULL, *init_opt = NULL,
               *vm_cache = NULL;
    bool vm_templates = true;
    uint64_t exec_timeout_s = 600, max_output = RUNRA_OUTPUT_DEFAULT, pool = 2;
    enum { OPT_STATE = 256, OPT_SOCKET, OPT_INIT, OPT_EXEC_TIMEOUT, OPT_MAX_OUTPUT, OPT_LOG,
           OPT_ROUTES, OPT_VERSION, OPT_HELP, OPT_POOL, OPT_NET_RANGE, OPT_DNS, OPT_NO_NET,
           OPT_EVENTS_FILE, OPT_OTLP, OPT_LISTEN, OPT_KEEP, OPT_NO_KEEP, OPT_SECRETS_KEY,
           OPT_CONFIG, OPT_VM_CACHE, OPT_NO_VM_TEMPLATES };
    const char *events_file = NULL, *otlp = NULL, *listen_addr = NULL, *secrets_key = NULL;
    const char *config_path = NULL;
    bool keep = true;
    const char *net_range = "10.88.0.0/16", *dns = NULL;
    bool no_net = false;
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"init", required_argument, NULL, OPT_INIT},
        {"exec-timeout", required_argument, NULL, OPT_EXEC_TIMEOUT},
        {"max-output", required_argument, NULL, OPT_MAX_OUTPUT},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"pool", required_argument, NULL, OPT_POOL},
        {"net-range", required_argument, NULL, OPT_NET_RANGE},
        {"dns", required_argument, NULL, OPT_DNS},
        {"no-network", no_argument, NULL, OPT_NO_NET},
        {"events-file", required_argument, NULL, OPT_EVENTS_FILE},
        {"otlp-endpoint", required_argument, NULL, OPT_OTLP},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"keep-sandboxes", no_argument, NULL, OPT_KEEP},
        {"no-keep-sandboxes", no_argument, NULL, OPT_NO_KEEP},
        {"secrets-key", required_argument, NULL, OPT_SECRETS_KEY},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"vm-cache", required_argument, NULL, OPT_VM_CACHE},
        {"no-vm-templates", no_argument, NULL, OPT_NO_VM_TEMPLATES},
        {"list-routes", no_argument, NULL, OPT_ROUTES},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_STATE:
            state_dir = optarg;
            break;
        case OPT_SOCKET:
            socket_opt = optarg;
            break;
        case OPT_INIT:
            init_opt = optarg;
            break;
        case OPT_EXEC_TIMEOUT:
            if (parse_u64(optarg, &exec_timeout_s) < 0 || exec_timeout_s == 0 ||
                exec_timeout_s > RUNRA_TIMEOUT_MAX_MS / 1000) {
                fprintf(stderr, "runrad: --exec-timeout must be seconds in [1, %llu]\n",
                        (unsigned long long)(RUNRA_TIMEOUT_MAX_MS / 1000));
                return 2;
            }
            break;
        case OPT_MAX_OUTPUT:
            if (parse_u64(optarg, &max_output) < 0 || max_output == 0 ||
                max_output > RUNRA_OUTPUT_MAX) {
                fprintf(stderr, "runrad: --max-output must be bytes in [1, %u]\n",
                        RUNRA_OUTPUT_MAX);
                return 2;
            }
            break;
        case OPT_POOL:
            if (parse_u64(optarg, &pool) < 0 || pool > 64) {
                fprintf(stderr, "runrad: --pool must be a number in [0, 64]\n");
                return 2;
            }
            break;
        case OPT_NET_RANGE:
            net_range = optarg;
            break;
        case OPT_DNS:
            dns = optarg;
            break;
        case OPT_NO_NET:
            no_net = true;
            break;
        case OPT_EVENTS_FILE:
            events_file = optarg;
            break;
        case OPT_OTLP:
            otlp = optarg;
            break;
        case OPT_LISTEN:
            listen_addr = optarg;
            break;
        case OPT_KEEP:
        case OPT_NO_KEEP:
            keep = c == OPT_KEEP;
            break;
        case OPT_SECRETS_KEY:
            secrets_key = optarg;
            break;
        case OPT_CONFIG:
            config_path = optarg;
            break;
        case OPT_VM_CACHE:
            vm_cache = optarg;
            break;
        case OPT_NO_VM_TEMPLATES:
            vm_templates = false;
            break;
        case OPT_LOG:
            if (!strcmp(optarg, "debug"))
                log_set_level(LOG_LVL_DEBUG);
            else if (!strcmp(optarg, "info"))
                log_set_level(LOG_LVL_INFO);
            else if (!strcmp(optarg, "warn"))
                log_set_level(LOG_LVL_WARN);
            else if (!strcmp(optarg, "error"))
                log_set_level(LOG_LVL_ERROR);
            else {
                fprintf(stderr, "runrad: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_ROUTES: {
            size_t n;
            const struct route *rt = router_table(&n);
            for (size_t i = 0; i < n; i++)
                printf("%s %s\n", rt[i].method, rt[i].pattern);
            return 0;
        }
        case OPT_VERSION:
            printf("runrad %s\n", RUNRA_VERSION);
            return 0;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "runrad: must run as root (it creates namespaces, cgroups and mounts)\n");
        return 1;
    }

    char init_path[PATH_MAX];
    if (init_opt)
        snprintf(init_path, sizeof(init_path), "%s", init_opt);
    else if (find_init(init_path, sizeof(init_path)) < 0) {
        fprintf(stderr, "runrad: cannot find runra-init (use --init PATH)\n");
        return 1;
    }

    int r = mkdir_p(state_dir, 0700);
    if (r < 0) {
        fprintf(stderr, "runrad: create state dir '%s': %s\n", state_dir, strerror(-r));
        return 1;
    }
    char state_real[PATH_MAX], socket_path[PATH_MAX];
    if (!realpath(state_dir, state_real)) {
        fprintf(stderr, "runrad: state dir '%s': %s\n", state_dir, strerror(errno));
        return 1;
    }
    chmod(state_real, 0711);
    /* One daemon per state dir: a second one would fight the first over
     * every sandbox. The lock lives as long as this process. */
    char lock_path[PATH_MAX + 16];
    snprintf(lock_path, sizeof(lock_path), "%s/runrad.lock", state_real);
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "runrad: %s: %s\n", lock_path,
                errno == EWOULDBLOCK ? "another runrad uses this state dir" : strerror(errno));
        return 1;
    }
    char db_path[PATH_MAX + 16];
    if ((size_t)snprintf(socket_path, sizeof(socket_path), "%s%s", socket_opt ? socket_opt : state_real,
                         socket_opt ? "" : "/runra.sock") >= sizeof(socket_path) ||
        (size_t)snprintf(db_path, sizeof(db_path), "%s/runra.db", state_real) >= sizeof(db_path)) {
        fprintf(stderr, "runrad: state dir or socket path too long\n");
        return 1;
    }

    /* Signals are taken synchronously by the main thread; every thread
     * started from here on inherits the blocked mask. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* A private mount namespace, slave of the host's: the daemon sees host
     * mounts, and the host never sees the daemon's. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
        fprintf(stderr, "runrad: private mount namespace: %s\n", strerror(errno));
        return 1;
    }

    _cleanup_err_ struct runra_err *e = NULL;
    if (ns_daemon_init(&e) < 0)
        log_warn("event=ns_unavailable err=\"%s\"", e && e->msg ? e->msg : "?");
    err_free(e);
    e = NULL;

    struct store *store = NULL;
    if (store_open(db_path, &store, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        return 1;
    }
    /* Sandbox networking needs nftables and veth; without them the daemon
     * still runs, and a create that asks for network gets a clear error. */
    struct egress_config ec = {.state_dir = state_real};
    struct events *events = NULL;
    if (events_new(store, events_file, &events, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        store_close(store);
        return 1;
    }
    if (otlp && events_set_otlp(events, otlp, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        events_free(events);
        store_close(store);
        return 2;
    }
    ec.on_denied = on_denied;
    ec.on_denied_userdata = events;

    struct egress *egress = NULL;
    char egress_error[512] = "turned off with --no-network";
    if (egress_parse_range(net_range, &ec.range, &ec.range_prefix, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        return 2;
    }
    if (dns && egress_parse_upstream(dns, &ec.upstream, &ec.upstream_len, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        return 2;
    }
    if (!no_net) {
        if ((dns || egress_parse_upstream(NULL, &ec.upstream, &ec.upstream_len, &e) >= 0) &&
            egress_new(&ec, &egress, &e) >= 0) {
            egress_error[0] = 0;
        } else {
            snprintf(egress_error, sizeof(egress_error), "%s", e && e->msg ? e->msg : "?");
            log_warn("event=network_unavailable err=\"%s\"", egress_error);
        }
        err_free(e);
        e = NULL;
    }
    /* Secrets are sealed in the store with a key kept off the state dir:
     * by default on /run, a tmpfs, so it survives a daemon restart but never
     * reaches a disk. Without a usable default key they stay in memory. */
    struct secrets_key skey;
    bool have_skey = false;
    char kpath[PATH_MAX];
    {
        if (secrets_key) {
            snprintf(kpath, sizeof(kpath), "%s", secrets_key);
        } else {
            uint32_t h = 2166136261u;
            for (const char *p = state_real; *p; p++)
                h = (h ^ (uint8_t)*p) * 16777619u;
            snprintf(kpath, sizeof(kpath), "/run/runra/secrets-%08x.key", h);
        }
        if (secrets_key_load(kpath, &skey, &e) >= 0) {
            have_skey = true;
        } else if (secrets_key) {
            fprintf(stderr, "runrad: %s\n", e->msg);
            return 1;
        } else {
            log_warn("event=secrets_key_unavailable err=\"%s\" effect=\"secrets are kept in "
                     "memory only\"",
                     e && e->msg ? e->msg : "?");
        }
        err_free(e);
        e = NULL;
    }
    /* Images: the store in the state dir, registries from the config file. */
    struct images *images = NULL;
    {
        struct images_config ic = {.state_dir = state_real,
                                   .config_path = config_path,
                                   .config_required = config_path != NULL};
        if (images_open(&ic, &images, &e) < 0) {
            fprintf(stderr, "runrad: %s\n", e->msg);
            egress_free(egress);
            events_free(events);
            store_close(store);
            return 1;
        }
    }
    /* The VM backend's kernel, initramfs and root disks: the state dir's
     * unless shared (one download and one root disk per image for several
     * daemons). */
    char vm_cache_path[PATH_MAX + 8];
    if (vm_cache && vm_cache[0] != '/') {
        fprintf(stderr, "runrad: --vm-cache needs an absolute path\n");
        return 2;
    }
    snprintf(vm_cache_path, sizeof(vm_cache_path), "%s", vm_cache ? vm_cache : "");
    if (!vm_cache)
        snprintf(vm_cache_path, sizeof(vm_cache_path), "%s/vm", state_real);
    vm_backend_configure(vm_cache_path, init_path, vm_templates);
    struct manager_config mc = {.state_dir = state_real,
                                .images = images,
                                .keep_sandboxes = keep,
                                .secrets_key = have_skey ? &skey : NULL,
                                .secrets_key_path = have_skey ? kpath : NULL,
                                .events = events,
                                .egress = egress,
                                .egress_error = egress ? NULL : egress_error,
                                .socket_path = socket_path,
                                .init_path = init_path,
                                .exec_timeout_ms = exec_timeout_s * 1000,
                                .max_output = max_output,
                                .store = store,
                                .pool_size = (unsigned)pool};
    struct manager *m = NULL;
    if (manager_new(&mc, &m, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        egress_free(egress);
        events_free(events);
        store_close(store);
        return 1;
    }
    struct keys *keys = NULL;
    if (keys_new(store, &keys, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        manager_free(m);
        egress_free(egress);
        events_free(events);
        store_close(store);
        return 1;
    }
    struct api api = {
        .m = m, .state_dir = state_real, .events = events, .keys = keys, .images = images};
    struct api api_tcp = api;
    api_tcp.tcp = true;
    struct http *h = NULL, *htcp = NULL;
    if (listen_addr && http_start_tcp(&api_tcp, listen_addr, &htcp, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        manager_free(m);
        egress_free(egress);
        events_free(events);
        keys_free(keys);
        store_close(store);
        return 1;
    }
    if (http_start(&api, socket_path, &h, &e) < 0) {
        fprintf(stderr, "runrad: %s\n", e->msg);
        http_stop(htcp);
        manager_free(m);
        egress_free(egress);
        events_free(events);
        keys_free(keys);
        store_close(store);
        return 1;
    }
    log_info("event=started version=%s socket=%s state_dir=%s cgroup=%s", RUNRA_VERSION,
             socket_path, state_real, ns_cgroup_mode_name());

    int sig = 0;
    sigwait(&mask, &sig);
    log_info("event=stopping signal=%d", sig);
    /* Stop taking connections, destroy every sandbox (which wakes requests
     * still waiting on them), then stop the server. */
    http_quiesce(h);
    http_quiesce(htcp);
    /* Pulls end now (a create waiting for one gets an error), not when
     * their downloads would have. */
    images_stop(images);
    /* Attach sessions call into the manager: they end first. */
    api_attach_stop_all();
    api_attach_drain(10000);
    manager_free(m);
    egress_free(egress);
    http_stop(h);
    http_stop(htcp);
    events_free(events);
    keys_free(keys);
    images_free(images);
    store_close(store);
    log_info("event=stopped");
    return 0;
}
