/* The QMP codec (qmp.h). Only what runrad acts on is read out of a message;
 * the rest is checked for shape and ignored, as the protocol allows new
 * fields at any time. */
#include "backend/vm/qmp.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

int qmp_build(const char *cmd, const char *args_json, int64_t id, char **ret,
              struct runra_err **err)
{
    if (!cmd || !name_ok(cmd))
        return err_set(err, EINVAL, "qmp: bad command name");
    json_t *args = NULL;
    if (args_json) {
        json_error_t je;
        args = json_loads(args_json, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(args)) {
            json_decref(args);
            return err_set(err, EINVAL, "qmp: arguments must be a JSON object");
        }
    }
    json_t *j = json_pack("{s:s,s:I}", "execute", cmd, "id", (json_int_t)id);
    if (j && args)
        json_object_set_new(j, "arguments", args);
    else
        json_decref(args);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return -ENOMEM;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return -ENOMEM;
    }
    line[n] = '\n';
    line[n + 1] = 0;
    *ret = line;
    return 0;
}

static void copy_str(char *dst, size_t n, json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    snprintf(dst, n, "%s", s);
}

int qmp_parse(const char *line, size_t len, struct qmp_msg *ret, struct runra_err **err)
{
    if (len > QMP_LINE_MAX)
        return err_set(err, EBADMSG, "qmp: a line of %zu bytes", len);
    json_error_t je;
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(err, EBADMSG, "qmp: not a JSON object");
    }
    struct qmp_msg m = {.id = -1, .running = -1};
    json_t *id = json_object_get(j, "id");
    if (json_is_integer(id))
        m.id = json_integer_value(id);
    json_t *v;
    int r = 0;
    if ((v = json_object_get(j, "QMP")) && json_is_object(v)) {
        m.kind = QMP_GREETING;
    } else if ((v = json_object_get(j, "return"))) {
        m.kind = QMP_RETURN;
        if (json_is_object(v)) {
            copy_str(m.status, sizeof(m.status), json_object_get(v, "status"));
            json_t *run = json_object_get(v, "running");
            if (json_is_boolean(run))
                m.running = json_is_true(run);
        }
    } else if ((v = json_object_get(j, "error")) && json_is_object(v)) {
        m.kind = QMP_ERROR;
        json_t *cls = json_object_get(v, "class"), *desc = json_object_get(v, "desc");
        snprintf(m.error, sizeof(m.error), "%.60s: %.180s",
                 json_is_string(cls) ? json_string_value(cls) : "?",
                 json_is_string(desc) ? json_string_value(desc) : "?");
    } else if ((v = json_object_get(j, "event")) && json_is_string(v) &&
               name_ok(json_string_value(v))) {
        m.kind = QMP_EVENT;
        copy_str(m.event, sizeof(m.event), v);
        json_t *data = json_object_get(j, "data");
        if (json_is_object(data))
            copy_str(m.status, sizeof(m.status), json_object_get(data, "status"));
    } else {
        r = err_set(err, EBADMSG, "qmp: neither a greeting, a return, an error nor an event");
    }
    json_decref(j);
    if (r < 0)
        return r;
    *ret = m;
    return 0;
}
