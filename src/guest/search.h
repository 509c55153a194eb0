/* The SEARCH call: a regex search over a directory tree inside the sandbox,
 * done in slices from the poll loop so a long search never stalls exec
 * output or other calls. Matches stream to the host in DATA frames. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct guest;
struct search;

/* Decodes the request, compiles the regex (a bad one is EINVAL with PCRE2's
 * message and offset) and opens the root. */
int search_start(const char *workdir, const void *payload, size_t len, struct search **ret,
                 struct runra_err **err);
/* Runs one slice; returns 1 when the call has ended (RESULT or ERROR sent). */
int search_step(struct guest *g, uint32_t id, struct search *s);
void search_free(struct search *s);
