/* A template's saved VM made quicker to load. QEMU saves a stopped VM as
 * a migration stream: a header, the RAM section (every page of guest RAM
 * in turn, a zero page as a 9-byte record, any other as its 4 KiB), then
 * the devices' state. Loading costs for every record, and most of a small
 * guest's RAM is zero: vm_snap_compact writes the stream again without
 * the zero pages of the guest's RAM block ("microvm.ram", or "pc.ram" on
 * q35). QEMU's RAM starts zero on an incoming migration (it copies no ROM
 * into RAM while one is pending), so a page the stream leaves out loads
 * as the zero page it was; a zero page the stream wrote before (QEMU sends
 * a page again if the guest wrote it again) is kept. Pure file work: no
 * QEMU, unit-tested and fuzzed. */
#pragma once

#include <stdint.h>

#include "base/err.h"

struct vm_snap_stats {
    uint64_t pages;   /* pages written */
    uint64_t dropped; /* zero pages left out */
};

/* Reads the stream from in (at its offset 0) and writes it to out (at its
 * current offset). -ENOTSUP for a stream of a form it does not know (an
 * older or newer QEMU's, or migration features runra does not turn on),
 * -EBADMSG for one cut short or inconsistent: in both the caller keeps the
 * stream as QEMU wrote it (QEMU is the judge of whether it loads). Other
 * -errno: reading, writing, memory. */
int vm_snap_compact(int in, int out, struct vm_snap_stats *ret, struct runra_err **err);
