/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A domain's memory capabilities from its live XML, and the device XML the
 * actuators send. Pure functions over text (libxml2), testable without
 * libvirt.
 */
#pragma once

#include "backend.h"
#include "engine.h"

/* Parse live domain XML. Returns 0 and fills *ret, or -EINVAL with
 * *ret_error naming what was malformed. */
int domain_xml_parse_caps(const char *xml, PolicyDomainCaps *ret, char **ret_error);

/* The live XML of the virtio-mem device `alias` with its <requested> set to
 * requested_kib and nothing else changed, for virDomainUpdateDeviceFlags.
 * Returns 0 and *ret_xml (newly allocated), -ENODEV when there is no such
 * device, -EINVAL for malformed input. */
int domain_xml_virtio_mem_update(const char *domain_xml, const char *alias, uint64_t requested_kib,
                                 char **ret_xml, char **ret_error);

/* A <memory model='dimm'> element of size_kib on NUMA node `node`. */
char *domain_xml_dimm(uint64_t size_kib, int node);

/* Scale a libvirt size with its unit attribute ("KiB" when NULL) to KiB,
 * rounding up. Returns 0, or -EINVAL for an unknown unit, -ERANGE. */
int domain_xml_scale_kib(const char *number, const char *unit, uint64_t *ret_kib);

/* dynmem's namespace in a domain's <metadata> (docs/metadata.md):
 *   virsh metadata VM --uri urn:dynmem:policy:1 --key dynmem \
 *       --set '<policy><weight>8000</weight></policy>' --live --config */
#define DOMAIN_XML_POLICY_NS "urn:dynmem:policy:1"
/* The most keys one such element may carry. */
#define DOMAIN_XML_POLICY_MAX_KEYS 32

/* The policy keys in the domain's <metadata> element of dynmem's
 * namespace: *ret_pairs is a new array of strings, key then value, in
 * document order; empty when the domain has no such element. Returns 0;
 * -EBADMSG with *ret_error naming what is malformed in the metadata (a key
 * with elements inside, a key twice, two policy elements, too many keys);
 * -EINVAL when the document is not a domain's. The
 * values are not checked here: the policy's own validator does that. */
int domain_xml_parse_policy(const char *xml, GPtrArray **ret_pairs, char **ret_error);

/* A definition a domain is about to start with (what libvirt gives its
 * hooks on stdin): name, UUID (lower case, as libvirt formats it), what it
 * boots with (<currentMemory> within the balloon's reach, plus virtio-mem
 * <requested>), its capabilities and its own policy keys. Malformed
 * metadata is not an error: *ret says why it is ignored. Returns 0, or
 * -EINVAL with *ret_error. */
int domain_xml_parse_start(const char *xml, BackendStart *ret, char **ret_error);
