/* Unit tests for the CLI's argv parsing: K=V, ID:PATH, durations, sizes,
 * modes, and whole command lines into create/exec/run/simple requests. */
#include <errno.h>
#include <stdlib.h>

#include "cli/args.h"
#include "test.h"

/* getopt permutes argv, so every case parses its own copy. */
#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

static int argc_of(char **v)
{
    int n = 0;
    while (v[n])
        n++;
    return n;
}

static void kv(void)
{
    struct kv_vec v = { 0 };
    struct runra_err *e = NULL;
    CHECK(kv_vec_add(&v, "A=1", &e) == 0);
    CHECK(kv_vec_add(&v, "B=x=y", &e) == 0);
    CHECK(kv_vec_add(&v, "C=", &e) == 0);
    CHECK(kv_vec_add(&v, "A=2", &e) == 0); /* replaces */
    CHECK(v.n == 3);
    CHECK_STREQ(v.items[0].key, "A");
    CHECK_STREQ(v.items[0].value, "2");
    CHECK_STREQ(v.items[1].value, "x=y");
    CHECK_STREQ(v.items[2].value, "");
    CHECK(kv_vec_add(&v, "noequals", &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "KEY=VALUE"));
    err_free(e);
    e = NULL;
    CHECK(kv_vec_add(&v, "=v", &e) == -EINVAL);
    err_free(e);
    kv_vec_done(&v);
    CHECK(v.n == 0 && !v.items);
}

static void remote(void)
{
    char *id = NULL, *path = NULL;
    struct runra_err *e = NULL;
    CHECK(cli_split_remote("sb1:/etc/hosts", &id, &path, &e) == 1);
    CHECK_STREQ(id, "sb1");
    CHECK_STREQ(path, "/etc/hosts");
    free(id);
    free(path);
    CHECK(cli_split_remote("sb1:rel/x:y", &id, &path, &e) == 1);
    CHECK_STREQ(path, "rel/x:y");
    free(id);
    free(path);
    CHECK(cli_split_remote("/abs/a:b", &id, &path, &e) == 0);
    CHECK(cli_split_remote("./a:b", &id, &path, &e) == 0);
    CHECK(cli_split_remote("dir/a:b", &id, &path, &e) == 0);
    CHECK(cli_split_remote("plain", &id, &path, &e) == 0);
    CHECK(cli_split_remote("-", &id, &path, &e) == 0);
    CHECK(cli_split_remote(":x", &id, &path, &e) == -EINVAL);
    err_free(e);
    e = NULL;
    CHECK(cli_split_remote("sb:", &id, &path, &e) == -EINVAL);
    err_free(e);
}

static void durations(void)
{
    uint64_t ms = 0;
    struct runra_err *e = NULL;
    CHECK(cli_parse_duration_ms("30", &ms, &e) == 0 && ms == 30000);
    CHECK(cli_parse_duration_ms("1.5", &ms, &e) == 0 && ms == 1500);
    CHECK(cli_parse_duration_ms("2s", &ms, &e) == 0 && ms == 2000);
    CHECK(cli_parse_duration_ms("500ms", &ms, &e) == 0 && ms == 500);
    CHECK(cli_parse_duration_ms("2m", &ms, &e) == 0 && ms == 120000);
    CHECK(cli_parse_duration_ms("1h", &ms, &e) == 0 && ms == 3600000);
    CHECK(cli_parse_duration_ms("0.001", &ms, &e) == 0 && ms == 1);
    CHECK(cli_parse_duration_ms("0", &ms, &e) == 0 && ms == 0);
    const char *bad[] = { "", "s", "-1", "1x", "1.5.5", "1 s", "1e3", "99999999999999999" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(cli_parse_duration_ms(bad[i], &ms, &e) == -EINVAL);
        err_free(e);
        e = NULL;
    }
}

static void sizes(void)
{
    uint64_t v = 0;
    struct runra_err *e = NULL;
    CHECK(cli_parse_size_mb("512", &v, &e) == 0 && v == 512);
    CHECK(cli_parse_size_mb("512m", &v, &e) == 0 && v == 512);
    CHECK(cli_parse_size_mb("512MB", &v, &e) == 0 && v == 512);
    CHECK(cli_parse_size_mb("2g", &v, &e) == 0 && v == 2048);
    CHECK(cli_parse_size_mb("2GiB", &v, &e) == 0 && v == 2048);
    CHECK(cli_parse_size_mb("1.5g", &v, &e) == -EINVAL);
    err_free(e);
    e = NULL;
    CHECK(cli_parse_size_mb("lots", &v, &e) == -EINVAL);
    err_free(e);
    e = NULL;
    CHECK(cli_parse_count("64", &v, &e) == 0 && v == 64);
    CHECK(cli_parse_count("0", &v, &e) == -EINVAL);
    err_free(e);
    e = NULL;
    uint32_t m = 0;
    CHECK(cli_parse_mode("644", &m, &e) == 0 && m == 0644);
    CHECK(cli_parse_mode("0755", &m, &e) == 0 && m == 0755);
    CHECK(cli_parse_mode("4755", &m, &e) == 0 && m == 04755);
    CHECK(cli_parse_mode("888", &m, &e) == -EINVAL);
    err_free(e);
    e = NULL;
    CHECK(cli_parse_mode("17777", &m, &e) == -EINVAL);
    err_free(e);
}

static void create(void)
{
    char **v = ARGV("create", "--image", "python:3.12", "--cpu", "0.5", "--memory", "1g",
                    "--pids", "64", "--disk=512", "--timeout", "10m", "-e", "A=1", "--env",
                    "B=2", "--meta", "task=x", "-w", "/src", "--json");
    struct create_args a;
    struct runra_err *e = NULL;
    CHECK(cli_parse_create(argc_of(v), v, false, &a, &e) == 0);
    CHECK_STREQ(a.spec.image, "python:3.12");
    CHECK(a.spec.resources.cpu == 0.5);
    CHECK(a.spec.resources.memory_mb == 1024);
    CHECK(a.spec.resources.pids == 64);
    CHECK(a.spec.resources.disk_mb == 512);
    CHECK(a.spec.timeout_ms == 600000);
    CHECK(a.spec.n_env == 2 && a.spec.env == a.env.items);
    CHECK_STREQ(a.spec.env[1].key, "B");
    CHECK(a.spec.n_metadata == 1);
    CHECK_STREQ(a.spec.metadata[0].value, "x");
    CHECK_STREQ(a.spec.workdir, "/src");
    CHECK(a.common.json);
    CHECK(!a.cmd);
    create_args_done(&a);

    /* create takes no command and no -i. */
    char **v2 = ARGV("create", "echo");
    CHECK(cli_parse_create(argc_of(v2), v2, false, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "unexpected argument 'echo'"));
    err_free(e);
    e = NULL;
    create_args_done(&a);
    char **v3 = ARGV("create", "-i");
    CHECK(cli_parse_create(argc_of(v3), v3, false, &a, &e) == -EINVAL);
    err_free(e);
    e = NULL;
    create_args_done(&a);
    char **v4 = ARGV("create", "--cpu", "lots");
    CHECK(cli_parse_create(argc_of(v4), v4, false, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "lots"));
    err_free(e);
    e = NULL;
    create_args_done(&a);
    char **v5 = ARGV("create", "--bogus");
    CHECK(cli_parse_create(argc_of(v5), v5, false, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "unknown option '--bogus'"));
    err_free(e);
    e = NULL;
    create_args_done(&a);
    char **v6 = ARGV("create", "--memory");
    CHECK(cli_parse_create(argc_of(v6), v6, false, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "needs a value"));
    err_free(e);
    create_args_done(&a);
}

static void run(void)
{
    struct create_args a;
    struct runra_err *e = NULL;
    /* Flags after "--" belong to the command. */
    char **v = ARGV("run", "--cpu", "2", "-i", "--", "ls", "-la", "--json");
    CHECK(cli_parse_create(argc_of(v), v, true, &a, &e) == 0);
    CHECK(a.interactive && !a.common.json);
    CHECK(a.cmd && strcmp(a.cmd[0], "ls") == 0 && strcmp(a.cmd[1], "-la") == 0 &&
          strcmp(a.cmd[2], "--json") == 0 && !a.cmd[3]);
    create_args_done(&a);
    /* Without "--", parsing stops at the command. */
    char **v2 = ARGV("run", "--timeout", "5", "sh", "-c", "exit 3");
    CHECK(cli_parse_create(argc_of(v2), v2, true, &a, &e) == 0);
    CHECK(a.spec.timeout_ms == 5000);
    CHECK_STREQ(a.cmd[0], "sh");
    CHECK_STREQ(a.cmd[1], "-c");
    create_args_done(&a);
    char **v3 = ARGV("run", "--cpu", "1");
    CHECK(cli_parse_create(argc_of(v3), v3, true, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "no command"));
    err_free(e);
    create_args_done(&a);
}

static void exec(void)
{
    struct exec_args a;
    struct runra_err *e = NULL;
    char **v = ARGV("exec", "-e", "A=1", "-w", "/tmp", "--timeout", "1.5", "sb1", "--", "sh",
                    "-c", "echo $A", "-e");
    CHECK(cli_parse_exec(argc_of(v), v, &a, &e) == 0);
    CHECK_STREQ(a.id, "sb1");
    CHECK(a.env.n == 1);
    CHECK_STREQ(a.cwd, "/tmp");
    CHECK(a.timeout_ms == 1500);
    CHECK(a.cmd && strcmp(a.cmd[0], "sh") == 0 && strcmp(a.cmd[3], "-e") == 0 && !a.cmd[4]);
    exec_args_done(&a);
    /* Options after the id, before "--". */
    char **v2 = ARGV("exec", "sb2", "-i", "--json", "--", "cat");
    CHECK(cli_parse_exec(argc_of(v2), v2, &a, &e) == 0);
    CHECK_STREQ(a.id, "sb2");
    CHECK(a.interactive && a.common.json);
    CHECK(a.cmd && strcmp(a.cmd[0], "cat") == 0 && !a.cmd[1]);
    exec_args_done(&a);
    /* No "--": the first word after the id starts the command. */
    char **v3 = ARGV("exec", "sb3", "ls", "-l", "--json");
    CHECK(cli_parse_exec(argc_of(v3), v3, &a, &e) == 0);
    CHECK(!a.common.json);
    CHECK(a.cmd && strcmp(a.cmd[0], "ls") == 0 && strcmp(a.cmd[2], "--json") == 0);
    exec_args_done(&a);
    char **v4 = ARGV("exec", "sb4");
    CHECK(cli_parse_exec(argc_of(v4), v4, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "no command"));
    err_free(e);
    e = NULL;
    exec_args_done(&a);
    char **v5 = ARGV("exec");
    CHECK(cli_parse_exec(argc_of(v5), v5, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "no sandbox id"));
    err_free(e);
    e = NULL;
    exec_args_done(&a);
    char **v6 = ARGV("exec", "-x", "sb", "ls");
    CHECK(cli_parse_exec(argc_of(v6), v6, &a, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "unknown option '-x'"));
    err_free(e);
    exec_args_done(&a);
}

static void simple(void)
{
    bool rec = false;
    const char *mode = NULL;
    struct kv_vec meta = { 0 };
    const struct simple_opt opts[] = {
        { .name = "recursive", .short_name = 'r', .flag = &rec },
        { .name = "mode", .has_arg = true, .value = &mode },
        { .name = "meta", .has_arg = true, .kv = &meta },
    };
    struct cli_common co = { 0 };
    char **pos;
    int npos;
    struct runra_err *e = NULL;
    /* Options anywhere; "--" ends them. */
    char **v = ARGV("rm", "sb", "-r", "/x", "--mode", "644", "--meta", "a=b", "--json", "--",
                    "-weird");
    CHECK(cli_parse_simple(argc_of(v), v, opts, 3, &co, &pos, &npos, &e) == 0);
    CHECK(rec && co.json);
    CHECK_STREQ(mode, "644");
    CHECK(meta.n == 1);
    CHECK(npos == 3);
    CHECK_STREQ(pos[0], "sb");
    CHECK_STREQ(pos[1], "/x");
    CHECK_STREQ(pos[2], "-weird");
    kv_vec_done(&meta);
    char **v2 = ARGV("ls", "--socket", "/tmp/s.sock", "-h");
    co = (struct cli_common){ 0 };
    CHECK(cli_parse_simple(argc_of(v2), v2, NULL, 0, &co, &pos, &npos, &e) == 0);
    CHECK(co.help && npos == 0);
    CHECK_STREQ(co.socket, "/tmp/s.sock");
    char **v3 = ARGV("ls", "--nope");
    CHECK(cli_parse_simple(argc_of(v3), v3, NULL, 0, &co, &pos, &npos, &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "unknown option '--nope'"));
    err_free(e);
}

TEST_MAIN(TEST(kv), TEST(remote), TEST(durations), TEST(sizes), TEST(create), TEST(run),
          TEST(exec), TEST(simple))
