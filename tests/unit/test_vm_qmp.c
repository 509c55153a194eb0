/* The QMP codec (src/backend/vm/qmp.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vm/qmp.h"
#include "test.h"

static int parse(const char *s, struct qmp_msg *m)
{
    return qmp_parse(s, strlen(s), m, NULL);
}

static void build(void)
{
    char *line = NULL;
    CHECK(qmp_build("migrate", "{\"uri\":\"exec:cat > /s/mem\"}", 7, &line, NULL) == 0);
    CHECK(line && line[strlen(line) - 1] == '\n');
    CHECK(line && strstr(line, "\"execute\":\"migrate\"") && strstr(line, "\"id\":7") &&
          strstr(line, "\"uri\":\"exec:cat > /s/mem\""));
    free(line);
    line = NULL;
    CHECK(qmp_build("qmp_capabilities", NULL, 1, &line, NULL) == 0);
    CHECK(line && !strstr(line, "arguments"));
    free(line);
    CHECK(qmp_build("bad name", NULL, 1, &line, NULL) == -EINVAL);
    CHECK(qmp_build("stop", "[1]", 1, &line, NULL) == -EINVAL);
    CHECK(qmp_build("stop", "{", 1, &line, NULL) == -EINVAL);
}

static void messages(void)
{
    struct qmp_msg m;
    CHECK(parse("{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}", &m) == 0 &&
          m.kind == QMP_GREETING);
    CHECK(parse("{\"return\": {}, \"id\": 3}", &m) == 0 && m.kind == QMP_RETURN && m.id == 3);
    CHECK(parse("{\"return\": {\"status\": \"running\", \"running\": true, \"singlestep\": false}}",
                &m) == 0 &&
          m.running == 1 && !strcmp(m.status, "running") && m.id == -1);
    CHECK(parse("{\"return\": {\"status\": \"completed\", \"total-time\": 120}, \"id\": 9}",
                &m) == 0 &&
          !strcmp(m.status, "completed"));
    CHECK(parse("{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such thing\"}, "
                "\"id\": 4}",
                &m) == 0 &&
          m.kind == QMP_ERROR && m.id == 4 && strstr(m.error, "GenericError: no such thing"));
    CHECK(parse("{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": "
                "\"guest-shutdown\"}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}",
                &m) == 0 &&
          m.kind == QMP_EVENT && !strcmp(m.event, "SHUTDOWN"));
    CHECK(parse("{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}", &m) == 0 &&
          !strcmp(m.status, "completed"));
}

static void garbage(void)
{
    struct qmp_msg m;
    CHECK(parse("", &m) == -EBADMSG);
    CHECK(parse("[]", &m) == -EBADMSG);
    CHECK(parse("{\"what\": 1}", &m) == -EBADMSG);
    CHECK(parse("{\"event\": \"a b\"}", &m) == -EBADMSG);
    CHECK(parse("{\"return\": {}, \"return\": {}}", &m) == -EBADMSG);
    /* Long strings are cut, never overflow. */
    char big[600];
    memset(big, 'x', sizeof(big));
    big[sizeof(big) - 1] = 0;
    char line[1400];
    snprintf(line, sizeof(line), "{\"error\": {\"class\": \"%s\", \"desc\": \"%s\"}}", big, big);
    CHECK(parse(line, &m) == 0 && strlen(m.error) < sizeof(m.error));
    char *huge = malloc(QMP_LINE_MAX + 2);
    if (huge) {
        memset(huge, ' ', QMP_LINE_MAX + 1);
        huge[QMP_LINE_MAX + 1] = 0;
        CHECK(qmp_parse(huge, QMP_LINE_MAX + 1, &m, NULL) == -EBADMSG);
        free(huge);
    }
}

TEST_MAIN(TEST(build), TEST(messages), TEST(garbage))
