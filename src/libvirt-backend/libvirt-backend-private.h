/* SPDX-License-Identifier: GPL-2.0-or-later */
/* For tests only: the libvirt connection behind a libvirt backend, so a
 * test can act on the same test-driver instance (each open of a
 * test:///file URI is a separate in-memory hypervisor). */
#pragma once

#include "backend.h"

#include <libvirt/libvirt.h>

/* Borrowed; NULL when not connected. */
virConnectPtr backend_libvirt_get_connection(Backend *b);
