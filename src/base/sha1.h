/* SHA-1 (FIPS 180-4), for the one place the protocols demand it: the
 * WebSocket handshake's Sec-WebSocket-Accept. Not for anything secret. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20

struct sha1 {
    uint32_t h[5];
    uint64_t total;   /* bytes hashed */
    uint8_t block[64];
    size_t fill;
};

void sha1_init(struct sha1 *s);
void sha1_update(struct sha1 *s, const void *p, size_t n);
void sha1_final(struct sha1 *s, uint8_t out[SHA1_LEN]);
