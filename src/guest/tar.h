/* TAR_GET and TAR_PUT inside the sandbox: packing streams DATA frames while
 * the host keeps up; unpacking spools the upload to an unnamed file on the
 * target's file system, bounded by the sandbox's disk, then checks and
 * extracts it in bounded steps (src/tar/tarx.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct guest;
struct tar_get;
struct tar_put;

int tar_get_start(struct guest *g, uint32_t id, const void *payload, size_t len,
                  struct tar_get **ret, struct runra_err **err);
/* Sends the next piece, or the RESULT or ERROR that ends the call: 1 when
 * the call ended, else 0. */
int tar_get_step(struct guest *g, uint32_t id, struct tar_get *t);
void tar_get_free(struct tar_get *t);

int tar_put_start(struct guest *g, const void *payload, size_t len, struct tar_put **ret,
                  struct runra_err **err);
/* Spools one DATA frame; the empty one starts unpacking. 1 when the call
 * ended (with ERROR), else 0. */
int tar_put_data(struct guest *g, uint32_t id, struct tar_put *t, const void *p, size_t len);
/* Unpacks a little: 1 when the call ended, 0 when more work is queued, 2
 * while it waits for DATA. */
int tar_put_step(struct guest *g, uint32_t id, struct tar_put *t);
void tar_put_free(struct tar_put *t);
