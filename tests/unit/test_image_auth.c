/* WWW-Authenticate parsing, token URLs and token answers (image/auth.h),
 * plus the origin comparison the redirect rule rests on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/auth.h"
#include "image/regclient.h"
#include "test.h"

static int parse(const char *v, struct auth_challenge *ch)
{
    struct runra_err *e = NULL;
    int r = auth_challenge_parse(v, strlen(v), ch, &e);
    if (r < 0)
        CHECK(e && e->msg);
    err_free(e);
    return r;
}

static void bearer(void)
{
    struct auth_challenge ch;
    CHECK(parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                "scope=\"repository:library/node:pull\"",
                &ch) == 0);
    CHECK(ch.scheme == AUTH_BEARER);
    CHECK_STREQ(ch.realm, "https://auth.docker.io/token");
    CHECK_STREQ(ch.service, "registry.docker.io");
    CHECK_STREQ(ch.scope, "repository:library/node:pull");
    /* Commas inside quotes, several actions, odd spacing, case. */
    CHECK(parse("  bEaReR   Realm = \"http://127.0.0.1:1/token?a=1,b=2\" ,  "
                "scope=\"repository:x:pull,push\" , error=\"insufficient_scope\"",
                &ch) == 0);
    CHECK(ch.scheme == AUTH_BEARER);
    CHECK_STREQ(ch.realm, "http://127.0.0.1:1/token?a=1,b=2");
    CHECK_STREQ(ch.scope, "repository:x:pull,push");
    CHECK_STREQ(ch.service, "");
    /* Escapes in a quoted string. */
    CHECK(parse("Bearer realm=\"https://a/\\\"q\\\\\",service=tok-en", &ch) == 0);
    CHECK_STREQ(ch.realm, "https://a/\"q\\");
    CHECK_STREQ(ch.service, "tok-en");
    /* Several challenges: Bearer wins wherever it is. */
    CHECK(parse("Basic realm=\"r\", Bearer realm=\"https://t/\", Negotiate", &ch) == 0);
    CHECK(ch.scheme == AUTH_BEARER);
    CHECK_STREQ(ch.realm, "https://t/");
    CHECK(parse("Negotiate abc+/==, Bearer realm=\"https://t/\"", &ch) == 0);
    CHECK(ch.scheme == AUTH_BEARER);
    /* Two scopes, space-separated. */
    CHECK(parse("Bearer realm=\"https://t\",scope=\"repository:a:pull repository:b:pull\"", &ch) ==
          0);
    CHECK_STREQ(ch.scope, "repository:a:pull repository:b:pull");
}

static void basic(void)
{
    struct auth_challenge ch;
    CHECK(parse("Basic realm=\"runra-test\"", &ch) == 0);
    CHECK(ch.scheme == AUTH_BASIC);
    CHECK_STREQ(ch.realm, "runra-test");
    CHECK(parse("basic", &ch) == 0);
    CHECK(ch.scheme == AUTH_BASIC);
    CHECK(parse("Digest realm=\"x\", nonce=\"y\", Basic realm=\"z\"", &ch) == 0);
    CHECK(ch.scheme == AUTH_BASIC);
    CHECK_STREQ(ch.realm, "z");
}

static void refused(void)
{
    struct auth_challenge ch;
    CHECK(parse("", &ch) == -ENOTSUP);
    CHECK(parse("Negotiate", &ch) == -ENOTSUP);
    CHECK(parse("Negotiate abc==", &ch) == -ENOTSUP);
    CHECK(parse("Digest realm=\"x\"", &ch) == -ENOTSUP);
    CHECK(parse("Bearer service=\"x\"", &ch) == -EINVAL);
    CHECK(parse("Bearer realm=\"unterminated", &ch) == -EINVAL);
    CHECK(parse("Bearer realm=\"x\\", &ch) == -EINVAL);
    /* "realm=" alone is a token68 by the grammar: no usable challenge. */
    CHECK(parse("Bearer realm=", &ch) == -ENOTSUP);
    CHECK(parse("Bearer realm=,service=x", &ch) == -EINVAL);
    CHECK(parse("Bearer realm=\"a\" service=\"b\"", &ch) == -EINVAL);
    CHECK(parse("Bearer realm=\"a\",realm=\"b\"", &ch) == -EINVAL);
    CHECK(parse("Bearer realm=\"a\x01\"", &ch) == -EINVAL);
    CHECK(parse("=realm", &ch) == -EINVAL);
    CHECK(parse("Bearer\x01", &ch) == -EINVAL);
    /* Bounds. */
    char big[AUTH_REALM_MAX + 64];
    snprintf(big, sizeof(big), "Bearer realm=\"%0*d\"", AUTH_REALM_MAX + 1, 0);
    CHECK(parse(big, &ch) == -E2BIG);
    snprintf(big, sizeof(big), "Bearer realm=\"%0*d\"", AUTH_REALM_MAX, 0);
    CHECK(parse(big, &ch) == 0);
    char *huge = malloc(AUTH_HEADER_MAX + 2);
    memset(huge, 'a', AUTH_HEADER_MAX + 1);
    huge[AUTH_HEADER_MAX + 1] = 0;
    CHECK(parse(huge, &ch) == -E2BIG);
    free(huge);
    /* Not NUL-terminated: only len bytes are read. */
    const char v[] = {'B', 'a', 's', 'i', 'c', ' ', 'r', 'e', 'a', 'l', 'm', '=', '"', 'x'};
    struct runra_err *e = NULL;
    CHECK(auth_challenge_parse(v, sizeof(v), &ch, &e) == -EINVAL);
    err_free(e);
}

static char *url_of(const char *realm, const char *service, const char *scope, const char *fb,
                    bool allow_http, int *rc)
{
    struct auth_challenge ch = {AUTH_BEARER};
    snprintf(ch.realm, sizeof(ch.realm), "%s", realm);
    snprintf(ch.service, sizeof(ch.service), "%s", service);
    snprintf(ch.scope, sizeof(ch.scope), "%s", scope);
    char *u = NULL;
    struct runra_err *e = NULL;
    *rc = auth_token_url(&ch, fb, allow_http, &u, &e);
    err_free(e);
    return u;
}

static void token_url(void)
{
    int rc;
    char *u = url_of("https://auth.docker.io/token", "registry.docker.io",
                     "repository:library/node:pull", NULL, false, &rc);
    CHECK(rc == 0);
    CHECK_STREQ(u, "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3A"
                   "library%2Fnode%3Apull");
    free(u);
    u = url_of("https://t/x?a=1", "s p", "repository:a:pull,push  repository:b:pull", NULL, false,
               &rc);
    CHECK(rc == 0);
    CHECK_STREQ(u, "https://t/x?a=1&service=s%20p&scope=repository%3Aa%3Apull%2Cpush&scope="
                   "repository%3Ab%3Apull");
    free(u);
    u = url_of("https://t", "", "", "repository:fb:pull", false, &rc);
    CHECK(rc == 0);
    CHECK_STREQ(u, "https://t?scope=repository%3Afb%3Apull");
    free(u);
    /* http only when the registry itself is http. */
    u = url_of("http://127.0.0.1:1/token", "s", "", NULL, false, &rc);
    CHECK(rc == -EINVAL && !u);
    u = url_of("http://127.0.0.1:1/token", "s", "", NULL, true, &rc);
    CHECK(rc == 0 && u);
    free(u);
    const char *bad[] = {"ftp://t/", "file:///etc/passwd", "https://", "https://u:p@t/",
                         "https://t/#f", "https://t/ x", "/token", "https:/t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        u = url_of(bad[i], "s", "", NULL, true, &rc);
        CHECK(rc == -EINVAL && !u);
        if (rc == 0)
            fprintf(stderr, "accepted realm %s\n", bad[i]);
        free(u);
    }
}

static int tok(const char *body, char **t)
{
    struct runra_err *e = NULL;
    *t = NULL;
    int r = auth_token_parse(body, strlen(body), t, &e);
    err_free(e);
    return r;
}

static void token_answer(void)
{
    char *t;
    CHECK(tok("{\"token\": \"abc.def.ghi\", \"expires_in\": 300}", &t) == 0);
    CHECK_STREQ(t, "abc.def.ghi");
    free(t);
    CHECK(tok("{\"access_token\": \"xyz\"}", &t) == 0);
    CHECK_STREQ(t, "xyz");
    free(t);
    CHECK(tok("{\"token\": \"\", \"access_token\": \"xyz\"}", &t) == 0);
    CHECK_STREQ(t, "xyz");
    free(t);
    CHECK(tok("{}", &t) == -EBADMSG);
    CHECK(tok("[]", &t) == -EBADMSG);
    CHECK(tok("nope", &t) == -EBADMSG);
    CHECK(tok("{\"token\": 5}", &t) == -EBADMSG);
    /* Anything that could break out of a header line is refused. */
    CHECK(tok("{\"token\": \"a\\r\\nX-Evil: 1\"}", &t) == -EBADMSG);
    CHECK(tok("{\"token\": \"a b\"}", &t) == -EBADMSG);
    CHECK(tok("{\"token\": \"a\\u0000b\"}", &t) == -EBADMSG);
    char *big = malloc(AUTH_TOKEN_MAX + 32);
    int n = snprintf(big, AUTH_TOKEN_MAX + 32, "{\"token\":\"");
    memset(big + n, 'a', AUTH_TOKEN_MAX + 1);
    snprintf(big + n + AUTH_TOKEN_MAX + 1, 4, "\"}");
    CHECK(tok(big, &t) == -EBADMSG);
    free(big);
}

static void origins(void)
{
    CHECK(reg_same_origin("http://127.0.0.1:5000/v2/x", "http://127.0.0.1:5000"));
    CHECK(reg_same_origin("https://Registry.Example/v2/", "https://registry.example:443"));
    CHECK(!reg_same_origin("http://localhost:5000/x", "http://127.0.0.1:5000"));
    CHECK(!reg_same_origin("http://127.0.0.1:5001/x", "http://127.0.0.1:5000"));
    CHECK(!reg_same_origin("https://127.0.0.1:5000/x", "http://127.0.0.1:5000"));
    CHECK(!reg_same_origin("http://127.0.0.1:5000@evil.example/x", "http://127.0.0.1:5000"));
    CHECK(!reg_same_origin("not a url", "http://127.0.0.1:5000"));
}

TEST_MAIN(TEST(bearer), TEST(basic), TEST(refused), TEST(token_url), TEST(token_answer),
          TEST(origins))
