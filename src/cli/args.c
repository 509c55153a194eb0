/* argv parsing for every command, over getopt_long. Commands that end in a
 * command line of their own (exec, run) stop at the first non-option ("+"),
 * so the sandboxed command's flags are never mistaken for runra's; the rest
 * let options come anywhere. Nothing here prints; errors carry messages. */
#include "args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

enum {
    OPT_JSON = 1000,
    OPT_SOCKET,
    OPT_IMAGE,
    OPT_CPU,
    OPT_MEMORY,
    OPT_PIDS,
    OPT_DISK,
    OPT_TIMEOUT,
    OPT_META,
    OPT_BACKEND,
    OPT_MAX_OUTPUT,
    OPT_EXEC_TIMEOUT,
    OPT_NO_STREAM,
    OPT_NET,
    OPT_AUTO_RESUME,
    OPT_PERSIST,
    OPT_ON_TIMEOUT,
    OPT_ALLOW,
    OPT_DENY,
    OPT_SIMPLE = 2000, /* + index into a simple_opt table */
};

#define COMMON_LONGOPTS                                                                            \
    { "json", no_argument, NULL, OPT_JSON }, { "socket", required_argument, NULL, OPT_SOCKET },    \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* ---- values ------------------------------------------------------------ */

int kv_vec_add(struct kv_vec *v, const char *s, struct runra_err **err)
{
    const char *eq = strchr(s, '=');
    if (!eq)
        return err_set(err, EINVAL, "'%s' is not KEY=VALUE", s);
    if (eq == s)
        return err_set(err, EINVAL, "'%s' has an empty key", s);
    char *key = strndup(s, (size_t)(eq - s));
    char *value = strdup(eq + 1);
    if (!key || !value) {
        free(key);
        free(value);
        return err_set(err, ENOMEM, "out of memory");
    }
    /* The last -e K=V wins, as in a shell's environment. */
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->items[i].key, key) == 0) {
            free(key);
            free((char *)v->items[i].value);
            v->items[i].value = value;
            return 0;
        }
    struct runra_kv *items = realloc(v->items, (v->n + 1) * sizeof(*items));
    if (!items) {
        free(key);
        free(value);
        return err_set(err, ENOMEM, "out of memory");
    }
    items[v->n++] = (struct runra_kv){ .key = key, .value = value };
    v->items = items;
    return 0;
}

void kv_vec_done(struct kv_vec *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free((char *)v->items[i].key);
        free((char *)v->items[i].value);
    }
    free(v->items);
    *v = (struct kv_vec){ 0 };
}

int cli_split_remote(const char *s, char **ret_id, char **ret_path, struct runra_err **err)
{
    if (strcmp(s, "-") == 0 || s[0] == '/' || s[0] == '.')
        return 0;
    const char *colon = strchr(s, ':');
    if (!colon)
        return 0;
    /* "dir/a:b" is a host path: an id never holds '/'. */
    if (memchr(s, '/', (size_t)(colon - s)))
        return 0;
    if (colon == s)
        return err_set(err, EINVAL, "'%s' has no sandbox id before ':'", s);
    if (!colon[1])
        return err_set(err, EINVAL, "'%s' has no path after ':'", s);
    char *id = strndup(s, (size_t)(colon - s));
    char *path = strdup(colon + 1);
    if (!id || !path) {
        free(id);
        free(path);
        return err_set(err, ENOMEM, "out of memory");
    }
    *ret_id = id;
    *ret_path = path;
    return 1;
}

/* Splits "<number><suffix>" where number is digits with an optional
 * fraction; returns the number or -1. */
static double leading_number(const char *s, const char **ret_suffix, bool allow_fraction)
{
    const char *p = s;
    double v = 0;
    bool digits = false;
    for (; *p >= '0' && *p <= '9'; p++, digits = true)
        v = v * 10 + (*p - '0');
    if (allow_fraction && *p == '.') {
        double scale = 0.1;
        for (p++; *p >= '0' && *p <= '9'; p++, digits = true, scale /= 10)
            v += (*p - '0') * scale;
    }
    if (!digits || v > 1e15)
        return -1;
    *ret_suffix = p;
    return v;
}

int cli_parse_duration_ms(const char *s, uint64_t *ret, struct runra_err **err)
{
    static const struct {
        const char *suffix;
        double ms;
    } units[] = { { "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 }, { "h", 3600000 } };
    const char *suffix;
    double v = leading_number(s, &suffix, true);
    if (v >= 0)
        for (size_t i = 0; i < ARRAY_SIZE(units); i++)
            if (strcmp(suffix, units[i].suffix) == 0) {
                double ms = v * units[i].ms + 0.5;
                if (ms > 1e15)
                    break;
                *ret = (uint64_t)ms;
                return 0;
            }
    return err_set(err, EINVAL, "'%s' is not a duration (like 30, 1.5s, 500ms, 2m, 1h)", s);
}

int cli_parse_size_mb(const char *s, uint64_t *ret, struct runra_err **err)
{
    static const struct {
        const char *suffix;
        uint64_t mb;
    } units[] = { { "", 1 },    { "m", 1 },     { "mb", 1 },   { "mib", 1 },
                  { "g", 1024 }, { "gb", 1024 }, { "gib", 1024 } };
    const char *suffix;
    double v = leading_number(s, &suffix, false);
    if (v >= 0)
        for (size_t i = 0; i < ARRAY_SIZE(units); i++)
            if (strcasecmp(suffix, units[i].suffix) == 0) {
                *ret = (uint64_t)v * units[i].mb;
                return 0;
            }
    return err_set(err, EINVAL, "'%s' is not a size in MB (like 512, 512m, 2g)", s);
}

int cli_parse_count(const char *s, uint64_t *ret, struct runra_err **err)
{
    uint64_t v;
    if (parse_u64(s, &v) < 0 || v == 0)
        return err_set(err, EINVAL, "'%s' is not a positive number", s);
    *ret = v;
    return 0;
}

int cli_parse_mode(const char *s, uint32_t *ret, struct runra_err **err)
{
    uint32_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '7' && v <= 07777; p++)
        v = v * 8 + (uint32_t)(*p - '0');
    if (p == s || *p || v > 07777)
        return err_set(err, EINVAL, "'%s' is not an octal mode (like 644 or 0755)", s);
    *ret = v;
    return 0;
}

static int parse_cpu(const char *s, double *ret, struct runra_err **err)
{
    const char *suffix;
    double v = leading_number(s, &suffix, true);
    if (v <= 0 || *suffix)
        return err_set(err, EINVAL, "'%s' is not a CPU count (like 1, 0.5, 4)", s);
    *ret = v;
    return 0;
}

/* ---- getopt glue ------------------------------------------------------- */

/* getopt_long runs with opterr = 0 and a leading ':' in optstring, so its
 * complaints come here and read like the rest of runra's. */
static int getopt_error(int c, char **argv, struct runra_err **err)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return err_set(err, EINVAL, "option '%s' needs a value", arg);
    if (optopt && optopt < 256)
        return err_set(err, EINVAL, "unknown option '-%c'", optopt);
    return err_set(err, EINVAL, "unknown option '%s'", arg);
}

static bool common_opt(int c, struct cli_common *co)
{
    switch (c) {
    case OPT_JSON:
        co->json = true;
        return true;
    case OPT_SOCKET:
        co->socket = optarg;
        return true;
    case 'h':
        co->help = true;
        return true;
    default:
        return false;
    }
}

/* ---- create / run ------------------------------------------------------ */

static int create_opt(int c, struct create_args *a, struct runra_err **err)
{
    struct runra_sandbox_spec *s = &a->spec;
    switch (c) {
    case OPT_IMAGE:
        s->image = optarg;
        return 0;
    case OPT_BACKEND:
        s->backend = optarg;
        return 0;
    case 'w':
        s->workdir = optarg;
        return 0;
    case OPT_CPU:
        return parse_cpu(optarg, &s->resources.cpu, err);
    case OPT_MEMORY:
        return cli_parse_size_mb(optarg, &s->resources.memory_mb, err);
    case OPT_DISK:
        return cli_parse_size_mb(optarg, &s->resources.disk_mb, err);
    case OPT_PIDS:
        return cli_parse_count(optarg, &s->resources.pids, err);
    case OPT_TIMEOUT:
        return cli_parse_duration_ms(optarg, &s->timeout_ms, err);
    case OPT_EXEC_TIMEOUT:
        return cli_parse_duration_ms(optarg, &a->exec_timeout_ms, err);
    case 'e':
        return kv_vec_add(&a->env, optarg, err);
    case OPT_META:
        return kv_vec_add(&a->meta, optarg, err);
    case OPT_AUTO_RESUME:
        s->auto_resume = true;
        return 0;
    case OPT_PERSIST:
        s->persist = true;
        return 0;
    case OPT_ON_TIMEOUT:
        if (strcmp(optarg, "destroy") && strcmp(optarg, "pause"))
            return err_set(err, EINVAL, "--on-timeout must be destroy or pause");
        s->on_timeout = optarg;
        return 0;
    case OPT_NET:
        if (strcmp(optarg, "none") && strcmp(optarg, "allowlist") && strcmp(optarg, "open"))
            return err_set(err, EINVAL, "--net must be none, allowlist or open");
        s->network.mode = optarg;
        return 0;
    case OPT_ALLOW:
    case OPT_DENY: {
        const char **v = c == OPT_ALLOW ? a->allow : a->deny;
        size_t *n = c == OPT_ALLOW ? &a->nallow : &a->ndeny;
        if (*n >= CLI_NET_RULES_MAX)
            return err_set(err, E2BIG, "at most %d --allow and --deny rules each",
                           CLI_NET_RULES_MAX);
        v[(*n)++] = optarg;
        return 0;
    }
    case 'i':
        a->interactive = true;
        return 0;
    default:
        return err_set(err, EINVAL, "unknown option");
    }
}

int cli_parse_create(int argc, char **argv, bool run, struct create_args *a,
                     struct runra_err **err)
{
    const struct option longopts[] = {
        { "image", required_argument, NULL, OPT_IMAGE },
        { "cpu", required_argument, NULL, OPT_CPU },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "pids", required_argument, NULL, OPT_PIDS },
        { "disk", required_argument, NULL, OPT_DISK },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "env", required_argument, NULL, 'e' },
        { "meta", required_argument, NULL, OPT_META },
        { "workdir", required_argument, NULL, 'w' },
        { "backend", required_argument, NULL, OPT_BACKEND },
        { "net", required_argument, NULL, OPT_NET },
        { "auto-resume", no_argument, NULL, OPT_AUTO_RESUME },
        { "persist", no_argument, NULL, OPT_PERSIST },
        { "on-timeout", required_argument, NULL, OPT_ON_TIMEOUT },
        { "allow", required_argument, NULL, OPT_ALLOW },
        { "deny", required_argument, NULL, OPT_DENY },
        /* run only; create's getopt string has no 'i' and this is refused below. */
        { "interactive", no_argument, NULL, 'i' },
        { "exec-timeout", required_argument, NULL, OPT_EXEC_TIMEOUT },
        COMMON_LONGOPTS,
        { 0 },
    };
    *a = (struct create_args){ 0 };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, run ? "+:e:w:ih" : "+:e:w:h", longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return getopt_error(c, argv, err);
        if (common_opt(c, &a->common))
            continue;
        if (!run && (c == 'i' || c == OPT_EXEC_TIMEOUT))
            return err_set(err, EINVAL, "option '%s' is for run only", argv[optind - 1]);
        int r = create_opt(c, a, err);
        if (r < 0)
            return r;
    }
    a->spec.env = a->env.items;
    a->spec.n_env = a->env.n;
    a->spec.metadata = a->meta.items;
    a->spec.n_metadata = a->meta.n;
    a->spec.network.allow = a->nallow ? a->allow : NULL;
    a->spec.network.deny = a->ndeny ? a->deny : NULL;
    /* Rules alone mean an allowlist: what else would they be for. */
    if (!a->spec.network.mode && (a->nallow || a->ndeny))
        a->spec.network.mode = a->nallow ? "allowlist" : "open";
    if (a->common.help)
        return 0;
    if (!run) {
        if (optind < argc)
            return err_set(err, EINVAL, "unexpected argument '%s'", argv[optind]);
        return 0;
    }
    /* Without "--", getopt stopped at the command; with it, it skipped it. */
    if (optind >= argc)
        return err_set(err, EINVAL, "no command given (runra run [flags] -- CMD [ARG...])");
    a->cmd = argv + optind;
    return 0;
}

void create_args_done(struct create_args *a)
{
    kv_vec_done(&a->env);
    kv_vec_done(&a->meta);
}

/* ---- exec -------------------------------------------------------------- */

static int exec_pass(int argc, char **argv, struct exec_args *a, struct runra_err **err)
{
    const struct option longopts[] = {
        { "env", required_argument, NULL, 'e' },
        { "workdir", required_argument, NULL, 'w' },
        { "cwd", required_argument, NULL, 'w' },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "max-output", required_argument, NULL, OPT_MAX_OUTPUT },
        { "interactive", no_argument, NULL, 'i' },
        { "tty", no_argument, NULL, 't' },
        { "no-stream", no_argument, NULL, OPT_NO_STREAM },
        COMMON_LONGOPTS,
        { 0 },
    };
    opterr = 0;
    optind = 0;
    int c, r;
    while ((c = getopt_long(argc, argv, "+:e:w:ith", longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return getopt_error(c, argv, err);
        if (common_opt(c, &a->common))
            continue;
        switch (c) {
        case 'e':
            r = kv_vec_add(&a->env, optarg, err);
            break;
        case 'w':
            a->cwd = optarg;
            r = 0;
            break;
        case OPT_TIMEOUT:
            r = cli_parse_duration_ms(optarg, &a->timeout_ms, err);
            break;
        case OPT_MAX_OUTPUT:
            r = cli_parse_count(optarg, &a->max_output, err);
            break;
        case 'i':
            a->interactive = true;
            r = 0;
            break;
        case 't':
            a->tty = true;
            r = 0;
            break;
        case OPT_NO_STREAM:
            a->no_stream = true;
            r = 0;
            break;
        default:
            r = err_set(err, EINVAL, "unknown option");
        }
        if (r < 0)
            return r;
    }
    return optind;
}

int cli_parse_exec(int argc, char **argv, struct exec_args *a, struct runra_err **err)
{
    *a = (struct exec_args){ 0 };
    int i = exec_pass(argc, argv, a, err);
    if (i < 0)
        return i;
    if (a->common.help)
        return 0;
    if (i >= argc)
        return err_set(err, EINVAL, "no sandbox id given (runra exec [flags] ID -- CMD [ARG...])");
    a->id = argv[i];
    /* Options may follow the id too: a second pass over the rest, with the
     * id standing where getopt expects a program name. */
    int j = exec_pass(argc - i, argv + i, a, err);
    if (j < 0)
        return j;
    if (a->common.help)
        return 0;
    if (i + j >= argc)
        return err_set(err, EINVAL, "no command given (runra exec [flags] ID -- CMD [ARG...])");
    a->cmd = argv + i + j;
    return 0;
}

void exec_args_done(struct exec_args *a)
{
    kv_vec_done(&a->env);
}

/* ---- simple commands --------------------------------------------------- */

int cli_parse_simple(int argc, char **argv, const struct simple_opt *opts, size_t n_opts,
                     struct cli_common *common, char ***ret_pos, int *ret_npos,
                     struct runra_err **err)
{
    const struct option common_opts[] = { COMMON_LONGOPTS };
    size_t n_common = ARRAY_SIZE(common_opts);
    _cleanup_free_ struct option *longopts = calloc(n_opts + n_common + 1, sizeof(*longopts));
    _cleanup_free_ char *shortopts = malloc(2 * n_opts + 4);
    if (!longopts || !shortopts)
        return err_set(err, ENOMEM, "out of memory");
    size_t k = 0;
    shortopts[k++] = ':';
    shortopts[k++] = 'h';
    for (size_t i = 0; i < n_opts; i++) {
        longopts[i] = (struct option){ opts[i].name,
                                       opts[i].has_arg ? required_argument : no_argument, NULL,
                                       OPT_SIMPLE + (int)i };
        if (opts[i].short_name) {
            shortopts[k++] = opts[i].short_name;
            if (opts[i].has_arg)
                shortopts[k++] = ':';
        }
    }
    shortopts[k] = '\0';
    memcpy(longopts + n_opts, common_opts, sizeof(common_opts));

    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return getopt_error(c, argv, err);
        if (common_opt(c, common))
            continue;
        const struct simple_opt *o = NULL;
        if (c >= OPT_SIMPLE && c < OPT_SIMPLE + (int)n_opts)
            o = &opts[c - OPT_SIMPLE];
        for (size_t i = 0; !o && i < n_opts; i++)
            if (opts[i].short_name && opts[i].short_name == c)
                o = &opts[i];
        if (!o)
            return err_set(err, EINVAL, "unknown option");
        if (o->kv) {
            int r = kv_vec_add(o->kv, optarg, err);
            if (r < 0)
                return r;
        } else if (o->has_arg)
            *o->value = optarg;
        else
            *o->flag = true;
    }
    *ret_pos = argv + optind;
    *ret_npos = argc - optind;
    return 0;
}
