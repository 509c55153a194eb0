/* libFuzzer target: bytes a hostile guest could send. Walks the buffer as a
 * frame stream and runs every message decoder the daemon applies to guest
 * payloads. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/frame.h"
#include "proto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    while (size > 0) {
        struct frame_hdr h;
        const uint8_t *p;
        size_t used;
        if (frame_parse(data, size, &h, &p, &used) < 0)
            return 0;
        struct runra_err *e = NULL;
        switch (h.type) {
        case FRAME_HELLO: {
            struct hello_msg m;
            msg_hello_decode(p, h.len, &m, &e);
            break;
        }
        case FRAME_EXIT: {
            struct exec_exit x;
            msg_exec_exit_decode(p, h.len, &x, &e);
            break;
        }
        case FRAME_ERROR: {
            struct guest_error ge = {0};
            if (msg_error_decode(p, h.len, &ge, &e) == 0)
                msg_guest_error_done(&ge);
            break;
        }
        case FRAME_RESULT: {
            struct file_list l = {0};
            if (msg_file_list_decode(p, h.len, &l, &e) == 0)
                msg_file_list_done(&l);
            err_free(e);
            e = NULL;
            struct file_info fi = {0};
            if (msg_file_info_decode(p, h.len, &fi, &e) == 0)
                msg_file_info_done(&fi);
            err_free(e);
            e = NULL;
            uint64_t sz;
            msg_size_decode(p, h.len, &sz, &e);
            break;
        }
        default: {
            /* Requests are decoded by the guest: fuzz those decoders too. */
            struct exec_req *r = NULL;
            if (msg_exec_req_decode(p, h.len, &r, &e) == 0)
                msg_exec_req_free(r);
            err_free(e);
            e = NULL;
            struct file_req *fr = NULL;
            if (msg_file_req_decode(FRAME_FILE_MOVE, p, h.len, &fr, &e) == 0)
                msg_file_req_free(fr);
            break;
        }
        }
        err_free(e);
        data += used;
        size -= used;
    }
    return 0;
}
