/* Finding and killing a process tree through /proc. runra-init runs in the
 * sandbox's own pid namespace (or VM), so /proc lists only sandbox processes
 * and a pid we read names a sandbox process. */
#pragma once

#include <sys/types.h>

/* SIGKILLs every live descendant of root (not root itself), rescanning until
 * none is left or a bounded number of rounds ran out. Returns how many live
 * descendants the last scan found (0: the tree is gone) or -errno. root must
 * be a subreaper we have not reaped, so that orphans of killed processes
 * stay beneath it and its pid still names it. */
int proctree_kill(pid_t root);
