/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Size formatting into a caller buffer (private to src/policy): no
 * allocation, for reasons written every cycle. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* "512 MiB", "1.2 GiB", "300 KiB"; one decimal above MiB. Returns buf. */
char *policy_size_to_buf(uint64_t kib, char *buf, size_t len);
