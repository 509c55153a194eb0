/* libc-only helpers: full reads and writes, monotonic time, strict number
 * parsing, small string checks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Write all of buf, retrying on EINTR and short writes. 0 or -errno. */
int write_full(int fd, const void *buf, size_t len);
/* Read exactly len bytes. 0, -errno, or -EPIPE on early EOF. */
int read_full(int fd, void *buf, size_t len);
/* Read a whole (small) file into a NUL-terminated buffer of at most max bytes. */
int read_file_str(const char *path, size_t max, char **ret);
/* Write a string to a file (O_WRONLY|O_CLOEXEC, no create): for /proc and cgroupfs. */
int write_file_str(const char *path, const char *s);

uint64_t now_ms(void);       /* CLOCK_MONOTONIC, ms */
uint64_t now_ns(void);
/* ms since the epoch as RFC 3339 in UTC with milliseconds
 * ("2026-11-26T08:07:02.123Z"). */
void format_time_ms(int64_t ms, char out[64]);       /* CLOCK_MONOTONIC, ns */
uint64_t wall_ms(void);      /* CLOCK_REALTIME, ms since the epoch */

/* Strict decimal parsing: the whole string must be a number in range. */
int parse_u64(const char *s, uint64_t *ret);
int parse_i64(const char *s, int64_t *ret);
int parse_double(const char *s, double *ret);

bool str_has_prefix(const char *s, const char *prefix);
/* Random hex id of n chars (n <= 64) from getrandom(2). */
int random_hex(char *out, size_t n);

/* Make a directory and its parents (mode for the new ones). */
int mkdir_p(const char *path, mode_t mode);
/* Remove a tree without following symlinks or crossing mount points. */
int rm_rf(const char *path);

/* True when path equals prefix or lies beneath it ("/proc", "/proc/x"; not "/procx"). */
bool str_has_prefix_path(const char *path, const char *prefix);
