/* The sandbox's network namespace starts with its loopback interface down.
 * Agents run dev servers and test clients on 127.0.0.1, so it is brought up
 * here, while the child still holds CAP_NET_ADMIN over its own namespace
 * (the user namespace owns the network namespace). Nothing else is
 * configured: loopback is the only interface there is. */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/ns/child_ctx.h"

int ns_netns_loopback(struct ns_child_ctx *x, struct runra_err **err)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(err, errno, "socket");
    struct ifreq ifr = {0};
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return err_sys(err, errno, "get flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return err_sys(err, errno, "bring lo up");
    return 0;
}
