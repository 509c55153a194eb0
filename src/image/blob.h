/* The content-addressed blob store of images: <dir>/sha256/<hex>, each
 * written to a temporary file while its digest is computed and renamed into
 * place only when the digest is the one asked for, so a truncated, corrupt
 * or hostile blob is never stored, and a stored blob is always whole. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct blob_store;

/* Opens (making it 0700 if missing) the store at dir. */
int blob_store_open(const char *dir, struct blob_store **ret, struct runra_err **err);
void blob_store_free(struct blob_store *s);

/* Receives a blob's bytes in pieces; the writer verifies on commit. */
struct blob_writer;
/* digest: "sha256:<64 hex>", or NULL to store the blob under whatever
 * digest its bytes have (blob_writer_commit_any); max: the most bytes the
 * blob may have. */
int blob_writer_new(struct blob_store *s, const char *digest, uint64_t max,
                    struct blob_writer **ret, struct runra_err **err);
int blob_writer_write(struct blob_writer *w, const void *p, size_t n, struct runra_err **err);
/* Bytes written so far (a resumed download continues from here). */
uint64_t blob_writer_size(const struct blob_writer *w);
/* Checks the digest and stores the blob (EBADMSG: another digest, and
 * nothing is stored); frees w either way. */
int blob_writer_commit(struct blob_writer *w, struct runra_err **err);
#define BLOB_DIGEST_LEN 72 /* "sha256:" + 64 hex + NUL */
/* For a writer made without a digest: stores the blob under its digest,
 * which ret_digest gets; frees w either way. */
int blob_writer_commit_any(struct blob_writer *w, char ret_digest[BLOB_DIGEST_LEN],
                           struct runra_err **err);
/* Drops a blob being written; frees w. */
void blob_writer_abort(struct blob_writer *w);

bool blob_has(struct blob_store *s, const char *digest);
/* A read-only fd of a stored blob. */
int blob_open(struct blob_store *s, const char *digest, int *ret_fd, struct runra_err **err);
int blob_remove(struct blob_store *s, const char *digest, struct runra_err **err);
