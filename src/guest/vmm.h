/* runra-init --vmm: the jail a VM sandbox's QEMU runs in (see vmm.c). */
#pragma once

#include <stdbool.h>

bool vmm_is_jail(int argc, char **argv);
/* Builds the jail and execs QEMU; returns only on failure (exit code). */
int vmm_main(int argc, char **argv);
