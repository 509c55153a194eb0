/* Every size a caller or a guest controls has a named bound here. The daemon
 * treats the guest as hostile, so both sides check these. */
#pragma once

#define RUNRA_FRAME_MAX_PAYLOAD (1u << 20)      /* one guest frame's payload */
#define RUNRA_ARGV_MAX 4096                     /* entries in an exec argv */
#define RUNRA_ARG_MAX_BYTES (128u * 1024)       /* one argv entry, one env value */
#define RUNRA_ARGV_TOTAL_MAX (512u * 1024)      /* argv + env together */
#define RUNRA_ENV_MAX 1024                      /* env entries */
#define RUNRA_ENV_KEY_MAX 256
#define RUNRA_PATH_MAX 4096                     /* a path inside a sandbox */
#define RUNRA_META_MAX 64                       /* metadata entries */
#define RUNRA_META_KEY_MAX 128
#define RUNRA_META_VALUE_MAX 1024
#define RUNRA_IMAGE_MAX 512
#define RUNRA_USER_MAX 64                      /* a spec's or an exec's "user" */
#define RUNRA_LIST_MAX 10000                    /* entries in one directory listing */
#define RUNRA_STDIN_MAX (16u << 20)             /* stdin in a buffered exec request */
#define RUNRA_WS_MESSAGE_MAX (1u << 20)         /* one WebSocket message, fragments joined */
#define RUNRA_OUTPUT_DEFAULT (1u << 20)         /* per-stream output kept by an exec */
#define RUNRA_OUTPUT_MAX (64u << 20)            /* the most a caller may ask to keep */
#define RUNRA_TIMEOUT_MAX_MS (7ull * 24 * 3600 * 1000)
#define RUNRA_EXEC_TIMEOUT_DEFAULT_MS (10ull * 60 * 1000)
#define RUNRA_JSON_BODY_MAX (32u << 20)         /* a JSON request body */
#define RUNRA_FILE_MAX (4ull << 30)             /* one file upload */
#define RUNRA_CALLS_MAX 256                     /* concurrent guest calls per sandbox */

/* Resource defaults and bounds for a sandbox spec. */
#define RUNRA_DEFAULT_CPU 1.0
#define RUNRA_DEFAULT_MEMORY_MB 1024
#define RUNRA_DEFAULT_PIDS 512
#define RUNRA_DEFAULT_DISK_MB 2048
#define RUNRA_MIN_MEMORY_MB 16
#define RUNRA_MAX_MEMORY_MB (1024ull * 1024)
#define RUNRA_MIN_DISK_MB 16
#define RUNRA_MAX_DISK_MB (16ull * 1024 * 1024)
#define RUNRA_MIN_PIDS 8
#define RUNRA_MAX_PIDS 1000000
#define RUNRA_MIN_CPU 0.01
#define RUNRA_MAX_CPU 1024.0
