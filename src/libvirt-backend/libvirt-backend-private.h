/* SPDX-License-Identifier: GPL-2.0-or-later */
/* For tests only: the libvirt connection behind a libvirt backend, so a
 * test can act on the same test-driver instance (each open of a
 * test:///file URI is a separate in-memory hypervisor). */
#pragma once

#include "libvirt-backend.h"

#include <libvirt/libvirt.h>

/* Borrowed; NULL when not connected. */
virConnectPtr backend_libvirt_get_connection(Backend *b);

/* The negative errno a libvirt error code (virErrorNumber) maps to, with
 * no domain involved: -ENOTCONN only for a connection that is gone. */
int backend_libvirt_map_error(Backend *b, int code);

/* One domain's figures asked of the driver now, as completing a DIMM
 * guest's sample asks them (qemu-sample.h): balloon_kib the balloon
 * figure alone, assigned_kib 0. */
int backend_libvirt_read_sample(Backend *b, const char *uuid, uint64_t now_us,
                                PolicyDomainSample *ret, char **ret_error);
