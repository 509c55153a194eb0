/* Byte encodings for JSON transport: base64 (RFC 4648, padded) and UTF-8
 * repair (invalid sequences become U+FFFD) so any output fits a JSON string. */
#pragma once

#include <stddef.h>

int base64_encode(const void *in, size_t len, char **ret, size_t *ret_len);
/* Strict: rejects characters outside the alphabet and bad padding. */
int base64_decode(const char *in, size_t len, unsigned char **ret, size_t *ret_len);
/* A valid UTF-8 copy of in; NUL bytes are kept (JSON can carry \u0000). */
int utf8_sanitize(const char *in, size_t len, char **ret, size_t *ret_len);
