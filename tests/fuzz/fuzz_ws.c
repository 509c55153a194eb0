/* libFuzzer target: bytes a hostile WebSocket peer could send. The first
 * byte picks the side (server reading a client, or client reading runrad)
 * and how the rest is split into reads; the reader must never read out of
 * bounds, hang or hand out a message past its bound. */
#include <stdint.h>
#include <stdlib.h>

#include "base/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool from_client = data[0] & 1;
    size_t step = (size_t)(data[0] >> 1) + 1;
    data++;
    size--;
    struct ws_reader r;
    ws_reader_init(&r, from_client, MAX_MSG);
    while (size > 0) {
        size_t n = size < step ? size : step;
        if (ws_reader_feed(&r, data, n) < 0)
            break;
        data += n;
        size -= n;
        struct ws_msg m;
        int e;
        while ((e = ws_reader_next(&r, &m)) > 0) {
            if (m.len > MAX_MSG || (m.op >= WS_OP_CLOSE && m.len > WS_CONTROL_MAX))
                abort();
            volatile uint8_t sink = 0;
            for (size_t i = 0; i < m.len; i++)
                sink ^= m.data[i];
            (void)sink;
        }
        if (e < 0) {
            if (!r.close_code || !r.why)
                abort();
            break;
        }
    }
    ws_reader_done(&r);
    return 0;
}
