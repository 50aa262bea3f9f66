/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Snapshots of the manager and of one domain as the bus-props lists
 * describe them (src/bus-common/bus-props.h). Strings point into the
 * manager's state or static storage: valid until the next cycle.
 */
#pragma once

#include "bus-props.h"
#include "manager.h"

void dynmem_manager_props(Manager *m, BusManagerProps *ret);
void dynmem_domain_props(const ManagerDomain *d, BusDomainProps *ret);
