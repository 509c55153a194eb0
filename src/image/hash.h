/* SHA-256 for image content, through OpenSSL (its SHA extensions code: six
 * times the portable base/sha256.c here, and every byte of a pull is hashed
 * twice, as a blob and as a diff-id). The same interface as base/sha256.h;
 * the context is a plain struct, so it copies. Daemon side only. */
#pragma once

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>

struct image_hash {
    SHA256_CTX c;
};

static inline void image_hash_init(struct image_hash *h) { SHA256_Init(&h->c); }
static inline void image_hash_update(struct image_hash *h, const void *p, size_t n)
{
    SHA256_Update(&h->c, p, n);
}
static inline void image_hash_final(struct image_hash *h, uint8_t out[SHA256_DIGEST_LENGTH])
{
    SHA256_Final(out, &h->c);
}
