/* SPDX-License-Identifier: GPL-2.0-or-later */
/* placeholder main: replaced by the daemon work */
#include "check-config.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--check-config") == 0)
        return dynmem_check_config(argv[2], stdout, stderr);
    fprintf(stderr, "usage: dynmemd --check-config FILE\n");
    return 2;
}
