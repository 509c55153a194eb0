/* SHA-256 (FIPS 180-4), for API keys: the store keeps only their digests. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
    uint32_t h[8];
    uint64_t total;
    uint8_t block[64];
    size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);
/* The digest of p as 64 lowercase hex digits and a NUL. */
void sha256_hex(const void *p, size_t n, char out[2 * SHA256_LEN + 1]);
