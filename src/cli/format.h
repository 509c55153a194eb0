/* Pure formatting for the CLI's human output: ls -l style modes, RFC 3339
 * timestamps as ages, CPU and memory in short units, and aligned tables. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runra/runra.h"

/* "drwxr-xr-x"; setuid, setgid and sticky bits as s/S and t/T. */
void fmt_mode(enum runra_file_type type, uint32_t mode, char out[11]);
/* Parses "2024-05-01T12:00:00[.123](Z|+02:00)" into ms since the epoch. */
int fmt_parse_rfc3339(const char *s, int64_t *ret_ms);
/* "12s ago", "3m ago", "5h ago", "2d ago"; "-" when s is NULL or bad. */
void fmt_age(const char *rfc3339, int64_t now_ms, char *out, size_t n);
/* 1 -> "1", 0.5 -> "0.5", 0 -> "-". */
void fmt_cpu(double cpu, char *out, size_t n);
/* 512 -> "512M", 2048 -> "2G", 1536 -> "1536M", 0 -> "-". */
void fmt_mb(uint64_t mb, char *out, size_t n);

/* A table of strings printed with each column as wide as its widest cell,
 * three spaces apart, the last column unpadded. */
struct table {
    size_t cols;
    char **cells; /* rows * cols, owned */
    size_t rows;
};
int table_init(struct table *t, size_t cols);
/* Copies cols strings (NULL prints as "-"). */
int table_add(struct table *t, const char *const *row);
void table_print(const struct table *t, FILE *f);
void table_done(struct table *t);
