/* Guest message codec over jansson. Decoders reject unknown keys
 * (JSON_STRICT), duplicate keys and values out of range, and copy what they
 * keep so no json_t escapes this file. */
#include "msg.h"

#include "../base/util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "limits.h"

int msg_json_load(const void *buf, size_t len, json_t **ret, struct runra_err **err)
{
    json_error_t je;
    if (len > RUNRA_FRAME_MAX_PAYLOAD)
        return err_set(err, E2BIG, "message too large");
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(err, EINVAL, "malformed JSON: %s", je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(err, EINVAL, "message is not a JSON object");
    }
    *ret = j;
    return 0;
}

int msg_json_dump(json_t *j, char **ret)
{
    if (!j)
        return -ENOMEM;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

int msg_check_path(const char *p, struct runra_err **err)
{
    if (!p || !*p)
        return err_set(err, EINVAL, "path is empty");
    if (strlen(p) > RUNRA_PATH_MAX)
        return err_set(err, ENAMETOOLONG, "path longer than %d bytes", RUNRA_PATH_MAX);
    return 0;
}

int msg_check_env_key(const char *key, struct runra_err **err)
{
    if (strchr(key, '='))
        return err_set(err, EINVAL, "env name '%.64s' must not contain '='", key);
    _cleanup_free_ char *pair = NULL;
    if (asprintf(&pair, "%s=", key) < 0)
        return -ENOMEM;
    return msg_check_env(pair, err);
}

int msg_check_env(const char *kv, struct runra_err **err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return err_set(err, EINVAL, "env entry must be KEY=VALUE");
    size_t klen = (size_t)(eq - kv);
    if (klen > RUNRA_ENV_KEY_MAX)
        return err_set(err, EINVAL, "env key longer than %d bytes", RUNRA_ENV_KEY_MAX);
    for (size_t i = 0; i < klen; i++) {
        char c = kv[i];
        bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return err_set(err, EINVAL, "env key '%.*s' is not a valid name", (int)klen, kv);
    }
    if (strlen(eq + 1) > RUNRA_ARG_MAX_BYTES)
        return err_set(err, E2BIG, "env value longer than %u bytes", RUNRA_ARG_MAX_BYTES);
    return 0;
}

/* Copies a JSON array of strings into a NULL-terminated vector, bounded in
 * count and bytes. */
static int strv_from_json(json_t *a, size_t max, const char *what, char ***ret, size_t *total,
                          struct runra_err **err)
{
    if (!json_is_array(a))
        return err_set(err, EINVAL, "%s must be an array of strings", what);
    size_t n = json_array_size(a);
    if (n > max)
        return err_set(err, E2BIG, "%s has more than %zu entries", what, max);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s)) {
            strv_free(v);
            return err_set(err, EINVAL, "%s[%zu] must be a string", what, i);
        }
        size_t l = json_string_length(s);
        if (l > RUNRA_ARG_MAX_BYTES || memchr(json_string_value(s), 0, l)) {
            strv_free(v);
            return err_set(err, l > RUNRA_ARG_MAX_BYTES ? E2BIG : EINVAL,
                           "%s[%zu] is too long or holds a NUL byte", what, i);
        }
        *total += l + 1;
        v[i] = strdup(json_string_value(s));
        if (!v[i]) {
            strv_free(v);
            return -ENOMEM;
        }
    }
    *ret = v;
    return 0;
}

static json_t *strv_to_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

int msg_hello_encode(const struct hello_msg *m, char **ret)
{
    return msg_json_dump(json_pack("{s:i,s:I}", "version", m->version, "pid", (json_int_t)m->pid), ret);
}

int msg_hello_decode(const void *buf, size_t len, struct hello_msg *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    int version = 0;
    json_int_t pid = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:i,s:I}", "version", &version, "pid", &pid) < 0) {
        json_decref(j);
        return err_set(err, EINVAL, "bad hello: %s", je.text);
    }
    json_decref(j);
    if (pid <= 0)
        return err_set(err, EINVAL, "bad hello: pid out of range");
    ret->version = version;
    ret->pid = pid;
    return 0;
}

int msg_net_config_encode(const struct net_config_msg *m, char **ret)
{
    return msg_json_dump(json_pack("{s:s,s:s,s:s,s:i}", "mac", m->mac, "address", m->address,
                                   "gateway", m->gateway, "prefix", (int)m->prefix),
                         ret);
}

static bool mac_ok(const char *s)
{
    if (strlen(s) != 17)
        return false;
    for (size_t i = 0; i < 17; i++) {
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (i % 3 == 2 ? s[i] != ':' : !hex)
            return false;
    }
    return true;
}

static bool ipv4_ok(const char *s)
{
    struct in_addr a;
    return strlen(s) < 16 && inet_pton(AF_INET, s, &a) == 1;
}

int msg_net_config_decode(const void *buf, size_t len, struct net_config_msg *ret,
                          struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *mac, *addr, *gw;
    int prefix;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:s,s:s,s:i}", "mac", &mac, "address", &addr,
                       "gateway", &gw, "prefix", &prefix);
    if (r < 0)
        r = err_set(err, EINVAL, "bad net config: %s", je.text);
    else if (!mac_ok(mac) || !ipv4_ok(addr) || !ipv4_ok(gw) || prefix < 1 || prefix > 30)
        r = err_set(err, EINVAL, "bad net config: the MAC, an address or the prefix is out of "
                                 "range");
    else {
        snprintf(ret->mac, sizeof(ret->mac), "%s", mac);
        snprintf(ret->address, sizeof(ret->address), "%s", addr);
        snprintf(ret->gateway, sizeof(ret->gateway), "%s", gw);
        ret->prefix = (unsigned)prefix;
    }
    json_decref(j);
    return r;
}

int msg_vm_setup_encode(const struct vm_setup_msg *m, char **ret)
{
    char seed[VM_SEED_LEN * 2 + 1];
    for (size_t i = 0; i < VM_SEED_LEN; i++)
        snprintf(seed + 2 * i, 3, "%02x", m->seed[i]);
    static const char *const kinds[] = {[VM_SETUP_SANDBOX] = "sandbox",
                                        [VM_SETUP_TEMPLATE] = "template",
                                        [VM_SETUP_PROBE] = "probe"};
    if ((unsigned)m->kind >= ARRAY_SIZE(kinds))
        return -EINVAL;
    return msg_json_dump(
        json_pack("{s:s,s:s,s:b,s:s,s:I,s:s,s:I,s:I,s:I}", "hostname", m->hostname, "workdir",
                  m->workdir, "image", m->image, "kind", kinds[m->kind], "time_ns",
                  (json_int_t)m->time_ns, "seed", seed,
                  "memory_mb", (json_int_t)m->memory_mb, "pids", (json_int_t)m->pids, "cpu_milli",
                  (json_int_t)m->cpu_milli),
        ret);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int msg_vm_setup_decode(const void *buf, size_t len, struct vm_setup_msg *ret,
                        struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *hostname, *workdir, *seed, *kind;
    int image;
    json_int_t t, mem, pids, cpu;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:s,s:b,s:s,s:I,s:s,s:I,s:I,s:I}", "hostname",
                       &hostname, "workdir", &workdir, "image", &image, "kind", &kind, "time_ns",
                       &t, "seed", &seed, "memory_mb", &mem, "pids", &pids, "cpu_milli", &cpu);
    if (r < 0) {
        r = err_set(err, EINVAL, "bad vm setup: %s", je.text);
        goto out;
    }
    size_t hl = strlen(hostname), wl = strlen(workdir);
    if (hl == 0 || hl >= sizeof(ret->hostname) || wl == 0 || wl >= sizeof(ret->workdir) ||
        workdir[0] != '/' || t < 0 || strlen(seed) != VM_SEED_LEN * 2 || mem < 0 ||
        mem > (1 << 24) || pids < 0 || pids > (1 << 22) || cpu < 0 || cpu > 1024 * 1000) {
        r = err_set(err, EINVAL, "bad vm setup: a field is out of range");
        goto out;
    }
    if (!strcmp(kind, "sandbox"))
        ret->kind = VM_SETUP_SANDBOX;
    else if (!strcmp(kind, "template"))
        ret->kind = VM_SETUP_TEMPLATE;
    else if (!strcmp(kind, "probe"))
        ret->kind = VM_SETUP_PROBE;
    else {
        r = err_set(err, EINVAL, "bad vm setup: kind '%.32s'", kind);
        goto out;
    }
    for (size_t i = 0; i < hl; i++)
        if (!(hostname[i] == '-' || (hostname[i] >= 'a' && hostname[i] <= 'z') ||
              (hostname[i] >= '0' && hostname[i] <= '9'))) {
            r = err_set(err, EINVAL, "bad vm setup: hostname");
            goto out;
        }
    for (size_t i = 0; i < VM_SEED_LEN; i++) {
        int hi = hexval(seed[2 * i]), lo = hexval(seed[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            r = err_set(err, EINVAL, "bad vm setup: seed");
            goto out;
        }
        ret->seed[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(ret->hostname, hostname, hl + 1);
    memcpy(ret->workdir, workdir, wl + 1);
    ret->image = image;
    ret->time_ns = t;
    ret->memory_mb = (uint64_t)mem;
    ret->pids = (uint64_t)pids;
    ret->cpu_milli = (uint32_t)cpu;
    r = 0;
out:
    json_decref(j);
    return r;
}

void msg_exec_req_free(struct exec_req *r)
{
    if (!r)
        return;
    strv_free(r->argv);
    strv_free(r->env);
    free(r->cwd);
    free(r->user);
    free(r);
}

int msg_check_user(const char *user, struct runra_err **err)
{
    size_t n = strlen(user);
    const char *colon = strchr(user, ':');
    if (n == 0 || n > RUNRA_USER_MAX || user[0] == ':' || user[n - 1] == ':' ||
        strspn(user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:") != n ||
        (colon && strchr(colon + 1, ':')))
        return err_set(err, EINVAL, "user must be NAME, UID, NAME:GROUP or UID:GID (at most %d "
                                    "characters)",
                       RUNRA_USER_MAX);
    return 0;
}

int msg_exec_req_encode(const struct exec_req *r, char **ret)
{
    json_t *j = json_pack("{s:o,s:o,s:I,s:I,s:b}", "argv", strv_to_json(r->argv), "env",
                          strv_to_json(r->env), "timeoutMs", (json_int_t)r->timeout_ms,
                          "maxOutput", (json_int_t)r->max_output, "stdin", r->stdin_pipe);
    if (j && r->cwd)
        json_object_set_new(j, "cwd", json_string(r->cwd));
    if (j && r->user)
        json_object_set_new(j, "user", json_string(r->user));
    return msg_json_dump(j, ret);
}

int msg_exec_req_decode(const void *buf, size_t len, struct exec_req **ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *argv = NULL, *env = NULL;
    const char *cwd = NULL, *user = NULL;
    json_int_t timeout = 0, maxout = 0;
    int stdin_pipe = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o,s?o,s?s,s?I,s?I,s?b,s?s}", "argv", &argv, "env",
                       &env, "cwd", &cwd, "timeoutMs", &timeout, "maxOutput", &maxout, "stdin",
                       &stdin_pipe, "user", &user) < 0) {
        json_decref(j);
        return err_set(err, EINVAL, "bad exec request: %s", je.text);
    }
    struct exec_req *x = calloc(1, sizeof(*x));
    if (!x) {
        json_decref(j);
        return -ENOMEM;
    }
    size_t total = 0;
    r = strv_from_json(argv, RUNRA_ARGV_MAX, "argv", &x->argv, &total, err);
    if (r >= 0 && env)
        r = strv_from_json(env, RUNRA_ENV_MAX, "env", &x->env, &total, err);
    if (r >= 0 && !x->argv[0])
        r = err_set(err, EINVAL, "argv is empty");
    if (r >= 0 && x->argv[0] && !x->argv[0][0])
        r = err_set(err, EINVAL, "argv[0] is empty");
    if (r >= 0 && total > RUNRA_ARGV_TOTAL_MAX)
        r = err_set(err, E2BIG, "argv and env exceed %u bytes", RUNRA_ARGV_TOTAL_MAX);
    for (size_t i = 0; r >= 0 && x->env && x->env[i]; i++)
        r = msg_check_env(x->env[i], err);
    if (r >= 0 && cwd) {
        r = msg_check_path(cwd, err);
        if (r >= 0 && !(x->cwd = strdup(cwd)))
            r = -ENOMEM;
    }
    if (r >= 0 && user) {
        r = msg_check_user(user, err);
        if (r >= 0 && !(x->user = strdup(user)))
            r = -ENOMEM;
    }
    if (r >= 0 && (timeout < 0 || (uint64_t)timeout > RUNRA_TIMEOUT_MAX_MS))
        r = err_set(err, EINVAL, "timeoutMs out of range");
    if (r >= 0 && (maxout < 0 || (uint64_t)maxout > RUNRA_OUTPUT_MAX))
        r = err_set(err, EINVAL, "maxOutput out of range");
    json_decref(j);
    if (r < 0) {
        msg_exec_req_free(x);
        return r;
    }
    x->timeout_ms = (uint64_t)timeout;
    x->max_output = (uint64_t)maxout;
    x->stdin_pipe = stdin_pipe;
    *ret = x;
    return 0;
}

int msg_exec_exit_encode(const struct exec_exit *e, char **ret)
{
    return msg_json_dump(json_pack("{s:i,s:i,s:b,s:b,s:I,s:I,s:I,s:b}", "exitCode", e->exit_code,
                                   "signal", e->signal, "timedOut", e->timed_out, "truncated",
                                   e->truncated, "durationMs", (json_int_t)e->duration_ms,
                                   "stdoutBytes", (json_int_t)e->stdout_bytes, "stderrBytes",
                                   (json_int_t)e->stderr_bytes, "oomKilled", e->oom_killed),
                         ret);
}

int msg_exec_exit_decode(const void *buf, size_t len, struct exec_exit *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    int code = 0, sig = 0, to = 0, tr = 0, oom = 0;
    json_int_t dur = 0, ob = 0, eb = 0;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:i,s:i,s:b,s:b,s:I,s:I,s:I,s?b}", "exitCode", &code,
                       "signal", &sig, "timedOut", &to, "truncated", &tr, "durationMs", &dur,
                       "stdoutBytes", &ob, "stderrBytes", &eb, "oomKilled", &oom);
    json_decref(j);
    if (r < 0)
        return err_set(err, EINVAL, "bad exit message: %s", je.text);
    if (code < 0 || code > 255 + 128 || sig < 0 || sig > 64 || dur < 0 || ob < 0 || eb < 0)
        return err_set(err, EINVAL, "bad exit message: value out of range");
    *ret = (struct exec_exit){.exit_code = code,
                              .signal = sig,
                              .timed_out = to,
                              .truncated = tr,
                              .oom_killed = oom,
                              .duration_ms = (uint64_t)dur,
                              .stdout_bytes = (uint64_t)ob,
                              .stderr_bytes = (uint64_t)eb};
    return 0;
}

int msg_signal_encode(int sig, char **ret) { return msg_json_dump(json_pack("{s:i}", "signal", sig), ret); }

int msg_signal_decode(const void *buf, size_t len, int *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    int sig = 0;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:i}", "signal", &sig);
    json_decref(j);
    if (r < 0)
        return err_set(err, EINVAL, "bad signal message: %s", je.text);
    if (sig <= 0 || sig > 64)
        return err_set(err, EINVAL, "signal %d out of range", sig);
    *ret = sig;
    return 0;
}

void msg_file_req_free(struct file_req *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->to);
    free(r);
}

int msg_file_req_encode(uint16_t type, const struct file_req *r, char **ret)
{
    json_t *j = NULL;
    switch (type) {
    case FRAME_FILE_READ:
        j = json_pack("{s:s,s:I,s:I}", "path", r->path, "offset", (json_int_t)r->offset, "limit",
                      (json_int_t)r->limit);
        break;
    case FRAME_FILE_WRITE:
        j = json_pack("{s:s,s:i,s:b,s:b}", "path", r->path, "mode", (int)r->mode, "append",
                      r->append, "parents", r->parents);
        break;
    case FRAME_FILE_LIST:
    case FRAME_FILE_STAT:
        j = json_pack("{s:s}", "path", r->path);
        break;
    case FRAME_FILE_MKDIR:
        j = json_pack("{s:s,s:b,s:i}", "path", r->path, "parents", r->parents, "mode",
                      (int)r->mode);
        break;
    case FRAME_FILE_REMOVE:
        j = json_pack("{s:s,s:b}", "path", r->path, "recursive", r->recursive);
        break;
    case FRAME_FILE_MOVE:
        j = json_pack("{s:s,s:s,s:b}", "from", r->path, "to", r->to ? r->to : "", "overwrite",
                      r->overwrite);
        break;
    default:
        return -EINVAL;
    }
    return msg_json_dump(j, ret);
}

int msg_file_req_decode(uint16_t type, const void *buf, size_t len, struct file_req **ret,
                        struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *path = NULL, *to = NULL;
    json_int_t offset = 0, limit = 0;
    int mode = 0, parents = 0, recursive = 0, append = 0, overwrite = 0;
    switch (type) {
    case FRAME_FILE_READ:
        r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?I,s?I}", "path", &path, "offset", &offset,
                           "limit", &limit);
        break;
    case FRAME_FILE_WRITE:
        r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?i,s?b,s?b}", "path", &path, "mode", &mode,
                           "append", &append, "parents", &parents);
        break;
    case FRAME_FILE_LIST:
    case FRAME_FILE_STAT:
        r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s}", "path", &path);
        break;
    case FRAME_FILE_MKDIR:
        r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?b,s?i}", "path", &path, "parents",
                           &parents, "mode", &mode);
        break;
    case FRAME_FILE_REMOVE:
        r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?b}", "path", &path, "recursive",
                           &recursive);
        break;
    case FRAME_FILE_MOVE:
        r = json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:s,s?b}", "from", &path, "to", &to,
                           "overwrite", &overwrite);
        break;
    default:
        json_decref(j);
        return err_set(err, EINVAL, "not a file request");
    }
    if (r < 0) {
        json_decref(j);
        return err_set(err, EINVAL, "bad %s request: %s", frame_type_name(type), je.text);
    }
    r = msg_check_path(path, err);
    if (r >= 0 && type == FRAME_FILE_MOVE)
        r = msg_check_path(to, err);
    if (r >= 0 && (offset < 0 || limit < 0))
        r = err_set(err, EINVAL, "offset and limit must not be negative");
    if (r >= 0 && (mode < 0 || mode > 07777))
        r = err_set(err, EINVAL, "mode out of range");
    struct file_req *x = NULL;
    if (r >= 0) {
        x = calloc(1, sizeof(*x));
        if (!x || !(x->path = strdup(path)) || (to && !(x->to = strdup(to))))
            r = -ENOMEM;
    }
    json_decref(j);
    if (r < 0) {
        msg_file_req_free(x);
        return r;
    }
    x->offset = (uint64_t)offset;
    x->limit = (uint64_t)limit;
    x->mode = (uint32_t)mode;
    x->parents = parents;
    x->recursive = recursive;
    x->append = append;
    x->overwrite = overwrite;
    *ret = x;
    return 0;
}

static const char *type_names[] = {"file", "dir", "symlink", "other"};

const char *file_type_name(enum file_type t)
{
    return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t] : "other";
}

int file_type_from_name(const char *s, enum file_type *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
        if (!strcmp(s, type_names[i])) {
            *ret = (enum file_type)i;
            return 0;
        }
    return -EINVAL;
}

static json_t *file_info_json(const struct file_info *fi)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:i,s:I,s:I,s:I}", "name", fi->name, "path", fi->path,
                          "type", file_type_name(fi->type), "size", (json_int_t)fi->size, "mode",
                          (int)fi->mode, "mtimeMs", (json_int_t)fi->mtime_ms, "uid",
                          (json_int_t)fi->uid, "gid", (json_int_t)fi->gid);
    if (j && fi->target)
        json_object_set_new(j, "target", json_string(fi->target));
    return j;
}

void msg_file_info_done(struct file_info *fi)
{
    if (!fi)
        return;
    free(fi->name);
    free(fi->path);
    free(fi->target);
    memset(fi, 0, sizeof(*fi));
}

static int file_info_from_json(json_t *j, struct file_info *ret, struct runra_err **err)
{
    json_error_t je;
    const char *name = NULL, *path = NULL, *type = NULL, *target = NULL;
    json_int_t size = 0, mtime = 0, uid = 0, gid = 0;
    int mode = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:s,s:s,s:I,s:i,s:I,s:I,s:I,s?s}", "name", &name,
                       "path", &path, "type", &type, "size", &size, "mode", &mode, "mtimeMs",
                       &mtime, "uid", &uid, "gid", &gid, "target", &target) < 0)
        return err_set(err, EINVAL, "bad file info: %s", je.text);
    enum file_type t;
    if (file_type_from_name(type, &t) < 0)
        return err_set(err, EINVAL, "bad file info: unknown type '%s'", type);
    if (size < 0 || mode < 0 || mode > 07777 || uid < 0 || gid < 0 || uid > UINT32_MAX ||
        gid > UINT32_MAX)
        return err_set(err, EINVAL, "bad file info: value out of range");
    if (strlen(name) > RUNRA_PATH_MAX || strlen(path) > RUNRA_PATH_MAX ||
        (target && strlen(target) > RUNRA_PATH_MAX))
        return err_set(err, EINVAL, "bad file info: name too long");
    struct file_info fi = {.type = t,
                           .size = (uint64_t)size,
                           .mode = (uint32_t)mode,
                           .mtime_ms = mtime,
                           .uid = (uint32_t)uid,
                           .gid = (uint32_t)gid};
    fi.name = strdup(name);
    fi.path = strdup(path);
    fi.target = target ? strdup(target) : NULL;
    if (!fi.name || !fi.path || (target && !fi.target)) {
        msg_file_info_done(&fi);
        return -ENOMEM;
    }
    *ret = fi;
    return 0;
}

int msg_file_info_encode(const struct file_info *fi, char **ret)
{
    return msg_json_dump(file_info_json(fi), ret);
}

int msg_file_info_decode(const void *buf, size_t len, struct file_info *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    r = file_info_from_json(j, ret, err);
    json_decref(j);
    return r;
}

int msg_file_list_encode(const struct file_list *l, char **ret)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, file_info_json(&l->entries[i]));
    return msg_json_dump(json_pack("{s:o,s:b}", "entries", a, "truncated", l->truncated), ret);
}

void msg_file_list_done(struct file_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        msg_file_info_done(&l->entries[i]);
    free(l->entries);
    memset(l, 0, sizeof(*l));
}

int msg_file_list_decode(const void *buf, size_t len, struct file_list *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *a = NULL;
    int tr = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o,s:b}", "entries", &a, "truncated", &tr) < 0 ||
        !json_is_array(a)) {
        json_decref(j);
        return err_set(err, EINVAL, "bad file list");
    }
    size_t n = json_array_size(a);
    if (n > RUNRA_LIST_MAX) {
        json_decref(j);
        return err_set(err, E2BIG, "file list too long");
    }
    struct file_list l = {.truncated = tr};
    l.entries = calloc(n ? n : 1, sizeof(struct file_info));
    if (!l.entries) {
        json_decref(j);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        r = file_info_from_json(json_array_get(a, i), &l.entries[i], err);
        if (r < 0) {
            msg_file_list_done(&l);
            json_decref(j);
            return r;
        }
        l.n++;
    }
    json_decref(j);
    *ret = l;
    return 0;
}

int msg_size_encode(uint64_t size, char **ret)
{
    return msg_json_dump(json_pack("{s:I}", "size", (json_int_t)size), ret);
}

int msg_size_decode(const void *buf, size_t len, uint64_t *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_int_t size = 0;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:I}", "size", &size);
    json_decref(j);
    if (r < 0 || size < 0)
        return err_set(err, EINVAL, "bad size message");
    *ret = (uint64_t)size;
    return 0;
}

int msg_error_encode(int errnum, const char *message, char **ret)
{
    return msg_json_dump(json_pack("{s:i,s:s}", "errno", errnum, "message", message ? message : ""), ret);
}

void msg_guest_error_done(struct guest_error *e)
{
    if (!e)
        return;
    free(e->message);
    e->message = NULL;
}

int msg_error_decode(const void *buf, size_t len, struct guest_error *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    int e = 0;
    const char *m = NULL;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:i,s:s}", "errno", &e, "message", &m);
    if (r < 0 || e <= 0 || e > 4095 || strlen(m) > 4096) {
        json_decref(j);
        return err_set(err, EINVAL, "bad error message");
    }
    ret->err = e;
    ret->message = strdup(m);
    json_decref(j);
    return ret->message ? 0 : -ENOMEM;
}

char **strv_dup(char *const *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    char **c = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; c && i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            strv_free(c);
            return NULL;
        }
    return c;
}

json_t *msg_time_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[64];
    format_time_ms(ms, buf);
    return json_string(buf);
}
