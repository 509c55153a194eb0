/* SQLite store. One connection guarded by a mutex: the daemon's writes are
 * few and small, and WAL keeps readers cheap. Schema changes are numbered
 * migrations applied in order and recorded in PRAGMA user_version. */
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    sqlite3 *db;
    pthread_mutex_t lock;
};

static const char *migrations[] = {
    /* 1 */
    "CREATE TABLE sandboxes ("
    "  id TEXT PRIMARY KEY,"
    "  spec TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  uid_base INTEGER NOT NULL,"
    "  init_pid INTEGER NOT NULL DEFAULT -1"
    ");",
    /* 2: the audit trail */
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time_ms INTEGER NOT NULL,"
    "  sandbox TEXT,"
    "  type TEXT NOT NULL,"
    "  data TEXT NOT NULL"
    ");"
    "CREATE INDEX events_sandbox ON events (sandbox, id);",
    /* 3: API keys, by their SHA-256 only */
    "CREATE TABLE keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL"
    ");",
    /* 4: what a restarted daemon needs to take a sandbox back */
    "ALTER TABLE sandboxes ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE sandboxes ADD COLUMN secrets BLOB;"
    "ALTER TABLE sandboxes ADD COLUMN net_slot INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sandboxes ADD COLUMN ports TEXT NOT NULL DEFAULT '';",
    /* 5: the image a sandbox's root is made of (its manifest digest) */
    "ALTER TABLE sandboxes ADD COLUMN image_digest TEXT NOT NULL DEFAULT '';",
};

static int db_err(struct store *s, struct runra_err **err, const char *what)
{
    return err_set(err, EIO, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec_sql(struct store *s, const char *sql, struct runra_err **err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = err_set(err, EIO, "store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static int migrate(struct store *s, struct runra_err **err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, err, "read schema version");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (version > (int)ARRAY_SIZE(migrations))
        return err_set(err, EPROTO, "store: schema version %d is newer than this runrad (%zu)",
                       version, ARRAY_SIZE(migrations));
    for (int v = version; v < (int)ARRAY_SIZE(migrations); v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        int r = exec_sql(s, "BEGIN IMMEDIATE", err);
        if (r >= 0)
            r = exec_sql(s, migrations[v], err);
        if (r >= 0)
            r = exec_sql(s, pragma, err);
        if (r >= 0)
            r = exec_sql(s, "COMMIT", err);
        if (r < 0) {
            exec_sql(s, "ROLLBACK", NULL);
            return err_prefix(err, "migration %d", v + 1);
        }
    }
    return 0;
}

int store_open(const char *path, struct store **ret, struct runra_err **err)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        int r = err_set(err, EIO, "store: open '%s': %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return r;
    }
    sqlite3_busy_timeout(s->db, 5000);
    int r = exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                        "PRAGMA foreign_keys=ON;",
                     err);
    if (r >= 0)
        r = migrate(s, err);
    if (r < 0) {
        store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int store_sandbox_insert(struct store *s, const struct store_sandbox *sb, struct runra_err **err)
{
    _cleanup_free_ char *spec = NULL;
    int r = spec_to_json(sb->spec, true, &spec);
    if (r < 0)
        return err_set(err, -r, "store: encode spec");
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO sandboxes (id, spec, state, created_ms, expires_ms, "
                           "uid_base, init_pid, owner, secrets, net_slot, ports, image_digest) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "insert");
        goto out;
    }
    sqlite3_bind_text(st, 1, sb->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sb->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, sb->created_ms);
    sqlite3_bind_int64(st, 5, sb->expires_ms);
    sqlite3_bind_int64(st, 6, sb->uid_base);
    sqlite3_bind_int64(st, 7, sb->init_pid);
    sqlite3_bind_text(st, 8, sb->owner, -1, SQLITE_STATIC);
    if (sb->secrets_len)
        sqlite3_bind_blob(st, 9, sb->secrets, (int)sb->secrets_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 9);
    sqlite3_bind_int64(st, 10, sb->net_slot);
    sqlite3_bind_text(st, 11, sb->ports ? sb->ports : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, sb->spec->image_digest ? sb->spec->image_digest : "", -1,
                      SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT)
        r = err_set(err, EEXIST, "store: sandbox %s exists", sb->id);
    else if (rc != SQLITE_DONE)
        r = db_err(s, err, "insert");
    else
        r = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Runs one UPDATE/DELETE bound to (text?, int64?, id). */
static int update(struct store *s, const char *sql, const char *text, const int64_t *num,
                  const char *id, struct runra_err **err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int r = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "prepare");
        goto out;
    }
    int i = 1;
    if (text)
        sqlite3_bind_text(st, i++, text, -1, SQLITE_STATIC);
    if (num)
        sqlite3_bind_int64(st, i++, *num);
    sqlite3_bind_text(st, i, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = db_err(s, err, "update");
    else if (sqlite3_changes(s->db) == 0)
        r = err_set(err, ENOENT, "store: no sandbox %s", id);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int store_sandbox_set_state(struct store *s, const char *id, const char *state,
                            struct runra_err **err)
{
    return update(s, "UPDATE sandboxes SET state = ? WHERE id = ?", state, NULL, id, err);
}

int store_sandbox_set_expiry(struct store *s, const char *id, int64_t expires_ms,
                             struct runra_err **err)
{
    return update(s, "UPDATE sandboxes SET expires_ms = ? WHERE id = ?", NULL, &expires_ms, id,
                  err);
}

int store_sandbox_set_init_pid(struct store *s, const char *id, int64_t pid,
                               struct runra_err **err)
{
    return update(s, "UPDATE sandboxes SET init_pid = ? WHERE id = ?", NULL, &pid, id, err);
}

int store_sandbox_set_net_slot(struct store *s, const char *id, uint32_t slot,
                               struct runra_err **err)
{
    int64_t v = slot;
    return update(s, "UPDATE sandboxes SET net_slot = ? WHERE id = ?", NULL, &v, id, err);
}

int store_sandbox_set_ports(struct store *s, const char *id, const char *ports,
                            struct runra_err **err)
{
    return update(s, "UPDATE sandboxes SET ports = ? WHERE id = ?", ports, NULL, id, err);
}

int store_sandbox_set_spec(struct store *s, const char *id, const struct sandbox_spec *spec,
                           struct runra_err **err)
{
    _cleanup_free_ char *json = NULL;
    int r = spec_to_json(spec, true, &json);
    if (r < 0)
        return err_set(err, -r, "store: encode spec");
    return update(s, "UPDATE sandboxes SET spec = ? WHERE id = ?", json, NULL, id, err);
}

int store_sandbox_delete(struct store *s, const char *id, struct runra_err **err)
{
    return update(s, "DELETE FROM sandboxes WHERE id = ?", NULL, NULL, id, err);
}

void store_sandbox_done(struct store_sandbox *sb)
{
    if (!sb)
        return;
    free(sb->id);
    free(sb->state);
    spec_free(sb->spec);
    free(sb->secrets);
    free(sb->ports);
    memset(sb, 0, sizeof(*sb));
}

void store_sandbox_list_free(struct store_sandbox *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_sandbox_done(&v[i]);
    free(v);
}

int store_sandbox_list(struct store *s, struct store_sandbox **ret, size_t *ret_n,
                       struct runra_err **err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    struct store_sandbox *v = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, spec, state, created_ms, expires_ms, uid_base, init_pid, "
                           "owner, secrets, net_slot, ports, image_digest FROM sandboxes "
                           "ORDER BY created_ms, id",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "list");
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct store_sandbox *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                r = -ENOMEM;
                goto out;
            }
            v = nv;
        }
        struct store_sandbox *sb = &v[n];
        memset(sb, 0, sizeof(*sb));
        const char *spec = (const char *)sqlite3_column_text(st, 1);
        _cleanup_err_ struct runra_err *e = NULL;
        sb->spec_ok = spec_parse_json(spec, strlen(spec), &sb->spec, &e) >= 0;
        if (!sb->spec_ok) {
            /* A row this daemon cannot read is kept with defaults so it can
             * still be listed and deleted rather than forgotten. */
            spec_new_default(&sb->spec);
        }
        sb->id = strdup((const char *)sqlite3_column_text(st, 0));
        sb->state = strdup((const char *)sqlite3_column_text(st, 2));
        sb->created_ms = sqlite3_column_int64(st, 3);
        sb->expires_ms = sqlite3_column_int64(st, 4);
        sb->uid_base = (uint32_t)sqlite3_column_int64(st, 5);
        sb->init_pid = sqlite3_column_int64(st, 6);
        snprintf(sb->owner, sizeof(sb->owner), "%s", (const char *)sqlite3_column_text(st, 7));
        int blen = sqlite3_column_bytes(st, 8);
        const void *blob = sqlite3_column_blob(st, 8);
        if (blob && blen > 0 && (sb->secrets = malloc((size_t)blen))) {
            memcpy(sb->secrets, blob, (size_t)blen);
            sb->secrets_len = (size_t)blen;
        }
        int64_t slot = sqlite3_column_int64(st, 9);
        sb->net_slot = slot > 0 && slot <= UINT32_MAX ? (uint32_t)slot : 0;
        sb->ports = strdup((const char *)sqlite3_column_text(st, 10));
        const char *digest = (const char *)sqlite3_column_text(st, 11);
        n++;
        if (digest && *digest && sb->spec && !(sb->spec->image_digest = strdup(digest))) {
            r = -ENOMEM;
            goto out;
        }
        if (!sb->id || !sb->state || !sb->spec || !sb->ports || (blen > 0 && !sb->secrets)) {
            r = -ENOMEM;
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        r = db_err(s, err, "list");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (r < 0) {
        store_sandbox_list_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_event_add(struct store *s, int64_t time_ms, const char *sandbox, const char *type,
                    const char *data, int64_t *ret_id, struct runra_err **err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int r = 0;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO events (time_ms, sandbox, type, data) VALUES (?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "insert event");
        goto out;
    }
    sqlite3_bind_int64(st, 1, time_ms);
    if (sandbox)
        sqlite3_bind_text(st, 2, sandbox, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, data, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        r = db_err(s, err, "insert event");
        goto out;
    }
    int64_t id = sqlite3_last_insert_rowid(s->db);
    *ret_id = id;
    /* The trail is bounded: the oldest go once it passes the bound, in
     * batches so the delete is rare. */
    if (id % 1024 == 0 && id > STORE_EVENTS_KEPT) {
        char sql[96];
        snprintf(sql, sizeof(sql), "DELETE FROM events WHERE id <= %lld",
                 (long long)(id - STORE_EVENTS_KEPT));
        exec_sql(s, sql, NULL);
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int store_event_list(struct store *s, int64_t since, const char *sandbox, const char *type,
                     size_t limit, struct store_event **ret, size_t *ret_n, struct runra_err **err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    struct store_event *v = NULL;
    size_t n = 0;
    int r = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, time_ms, sandbox, type, data FROM events WHERE id > ? AND "
                           "(?2 IS NULL OR sandbox = ?2) AND (?3 IS NULL OR type = ?3) "
                           "ORDER BY id LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "list events");
        goto out;
    }
    sqlite3_bind_int64(st, 1, since);
    if (sandbox)
        sqlite3_bind_text(st, 2, sandbox, -1, SQLITE_STATIC);
    if (type)
        sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    v = calloc(limit + 1, sizeof(*v));
    if (!v) {
        r = -ENOMEM;
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
        struct store_event *e = &v[n];
        e->id = sqlite3_column_int64(st, 0);
        e->time_ms = sqlite3_column_int64(st, 1);
        const char *sb = (const char *)sqlite3_column_text(st, 2);
        e->sandbox = sb ? strdup(sb) : NULL;
        e->type = strdup((const char *)sqlite3_column_text(st, 3));
        e->data = strdup((const char *)sqlite3_column_text(st, 4));
        n++;
        if (!e->type || !e->data || (sb && !e->sandbox)) {
            r = -ENOMEM;
            break;
        }
    }
    if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = db_err(s, err, "list events");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (r < 0) {
        store_event_list_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

void store_event_list_free(struct store_event *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].sandbox);
        free(v[i].type);
        free(v[i].data);
    }
    free(v);
}

int64_t store_event_last(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int64_t last = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT MAX(id) FROM events", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        last = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return last;
}

int store_key_add(struct store *s, const struct store_key *k, struct runra_err **err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int r = 0;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO keys (id, name, hash, created_ms) VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "insert key");
        goto out;
    }
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, k->created_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = db_err(s, err, "insert key");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int store_key_delete(struct store *s, const char *id, struct runra_err **err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int r = 0;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM keys WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "delete key");
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        r = db_err(s, err, "delete key");
    else if (sqlite3_changes(s->db) == 0)
        r = err_set(err, ENOENT, "no key '%.64s'", id);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int store_key_list(struct store *s, struct store_key **ret, size_t *ret_n, struct runra_err **err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    struct store_key *v = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id, name, hash, created_ms FROM keys ORDER BY created_ms",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(s, err, "list keys");
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct store_key *nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        struct store_key *k = &v[n];
        memset(k, 0, sizeof(*k));
        snprintf(k->id, sizeof(k->id), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(k->name, sizeof(k->name), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(k->hash, sizeof(k->hash), "%s", (const char *)sqlite3_column_text(st, 2));
        k->created_ms = sqlite3_column_int64(st, 3);
        n++;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (r < 0) {
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
