/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated hypervisor behind the backend interface (backend.h): the
 * manager of dynmemd runs on it unchanged. Every figure comes from the
 * simulated guests (sim-model.h); actions are what libvirt would accept.
 */
#pragma once

#include "backend.h"
#include "sim-model.h"

typedef struct {
    const SimModel *model;
    SimVm *vms;
    size_t n;
    GHashTable *by_uuid; /* uuid -> SimVm * */
    uint64_t now_us;     /* the manager's clock */
    int64_t epoch_s;     /* wall clock at now_us 0 */
} SimWorld;

/* A backend over world (borrowed: it must outlive the backend). */
Backend *sim_backend_new(SimWorld *world);

/* Deliver an event to the manager (a start, a stop, a device change). */
void sim_backend_event(Backend *b, BackendEventKind kind, const SimVm *vm);
