/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libvirt implementation of the backend interface (src/backend). */
#pragma once

#include "backend.h"

/* A backend not connected yet; BackendOps.open connects it. */
Backend *backend_libvirt_new(void);
