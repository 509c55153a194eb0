/* libFuzzer target: the payloads of the guest's answers to process, tar and
 * watch calls, which the daemon decodes from a hostile guest (and the
 * requests the guest decodes, NET_CONFIG among them). Each decoder gets the same bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/msg.h"
#include "proto/procmsg.h"
#include "proto/tarmsg.h"
#include "proto/watchmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct runra_err *e = NULL;
    struct proc_info pi = {0};
    if (msg_proc_info_decode(data, size, &pi, &e) == 0)
        msg_proc_info_done(&pi);
    err_free(e);
    e = NULL;
    struct proc_list pl = {0};
    if (msg_proc_list_decode(data, size, &pl, &e) == 0)
        msg_proc_list_done(&pl);
    err_free(e);
    e = NULL;
    struct proc_start_req ps = {0};
    if (msg_proc_start_decode(data, size, &ps, &e) == 0)
        msg_proc_start_done(&ps);
    err_free(e);
    e = NULL;
    struct proc_ref_req pr = {0};
    if (msg_proc_ref_decode(data, size, &pr, &e) == 0)
        msg_proc_ref_done(&pr);
    err_free(e);
    e = NULL;
    struct tar_result tr = {0};
    msg_tar_result_decode(data, size, &tr, &e);
    err_free(e);
    e = NULL;
    char *path = NULL;
    if (msg_tar_req_decode(data, size, &path, &e) == 0)
        free(path);
    err_free(e);
    e = NULL;
    bool rec = false;
    path = NULL;
    if (msg_watch_req_decode(data, size, &path, &rec, &e) == 0)
        free(path);
    err_free(e);
    e = NULL;
    struct net_config_msg nc;
    msg_net_config_decode(data, size, &nc, &e);
    err_free(e);
    return 0;
}
