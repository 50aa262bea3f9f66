/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sizes and times as the engine counts them: sizes in KiB, times in
 * microseconds. Every test and benchmark spells "512 MiB" as 512 * MiB.
 */
#pragma once

#include <stdint.h>

#define KiB UINT64_C(1)
#define MiB (UINT64_C(1024) * KiB)
#define GiB (UINT64_C(1024) * MiB)
#define TiB (UINT64_C(1024) * GiB)

#define SEC UINT64_C(1000000) /* one second in microseconds */
