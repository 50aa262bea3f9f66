/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The record file's format (dynmemd(8), RECORDING), shared by its writer
 * (manager-record.c) and its reader (dynmem-sim --from-recording,
 * src/sim/sim-recording.c). A change of the columns is a new format
 * number.
 */
#pragma once

#define DYNMEM_RECORD_FORMAT 1

#define DYNMEM_RECORD_COLUMNS                                                                      \
    "time_s,uuid,status,mode,assigned_kib,balloon_kib,usable_kib,memtotal_kib,swap_in_kib,"        \
    "demand_kib,target_kib,balloon_max_kib,virtio_mem_kib,virtio_mem_block_kib,max_memory_kib,"    \
    "dimm_slots,autodeflate,minimum_kib,maximum_kib,buffer_pct,weight,name"

/* The columns in order; the name is last so that nothing after it needs
 * its commas counted. */
typedef enum {
    RECORD_COL_TIME = 0,
    RECORD_COL_UUID,
    RECORD_COL_STATUS,
    RECORD_COL_MODE,
    RECORD_COL_ASSIGNED,
    RECORD_COL_BALLOON,
    RECORD_COL_USABLE,
    RECORD_COL_MEMTOTAL,
    RECORD_COL_SWAP_IN,
    RECORD_COL_DEMAND,
    RECORD_COL_TARGET,
    RECORD_COL_BALLOON_MAX,
    RECORD_COL_VIRTIO_MEM,
    RECORD_COL_VIRTIO_MEM_BLOCK,
    RECORD_COL_MAX_MEMORY,
    RECORD_COL_DIMM_SLOTS,
    RECORD_COL_AUTODEFLATE,
    RECORD_COL_MINIMUM,
    RECORD_COL_MAXIMUM,
    RECORD_COL_BUFFER,
    RECORD_COL_WEIGHT,
    RECORD_COL_NAME,
    RECORD_COL_LAST,
} RecordColumn;
