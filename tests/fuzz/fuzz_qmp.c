/* libFuzzer target: whatever a VM's QEMU (perhaps one a guest escaped into)
 * sends on the QMP socket. The parser either fails with a message or fills
 * bounded, NUL-terminated fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vm/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qmp_msg m;
    struct runra_err *e = NULL;
    int r = qmp_parse((const char *)data, size, &m, &e);
    if (r < 0 && (!e || !e->msg))
        abort();
    if (r == 0 && (strlen(m.event) >= sizeof(m.event) || strlen(m.status) >= sizeof(m.status) ||
                   strlen(m.error) >= sizeof(m.error) || m.running < -1 || m.running > 1))
        abort();
    err_free(e);
    return 0;
}
