/* Streaming file calls. FILE_READ sends DATA frames then RESULT {"size"},
 * one frame per loop turn and only while the host keeps up. FILE_WRITE takes
 * DATA frames until an empty one, then answers RESULT {"size"}. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct guest;
struct file_read;
struct file_write;

/* Opens the file for a FILE_READ request. Failures (ENOENT, EISDIR, ...)
 * come back here, before any DATA is sent. */
int file_read_start(const char *workdir, const void *payload, size_t len, struct file_read **ret,
                    struct runra_err **err);
/* Sends the next DATA frame, or the RESULT or ERROR that ends the call.
 * Returns 1 when the call ended (r may then be freed), else 0. */
int file_read_step(struct guest *g, uint32_t id, struct file_read *r);
void file_read_free(struct file_read *r);

/* Opens (creates, truncates or appends to) the file for a FILE_WRITE. */
int file_write_start(const char *workdir, const void *payload, size_t len, struct file_write **ret,
                     struct runra_err **err);
/* Writes one DATA frame; an empty one ends the call with RESULT. A write
 * error ends it with ERROR. Returns 1 when the call ended, else 0. */
int file_write_data(struct guest *g, uint32_t id, struct file_write *w, const void *p, size_t len);
void file_write_free(struct file_write *w);
