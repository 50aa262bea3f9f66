/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the domain XML capability parser, the policy metadata
 * parser and the virtio-mem update (src/libvirt-backend/domain-xml.c). The live XML comes from
 * libvirt, but it carries what a domain's owner defined.
 *
 * Checks: a failure says why; a success gives capabilities within their
 * arrays, with NUL-terminated aliases and a balloon ceiling the domain's
 * memory can hold; every virtio-mem device found can be resized.
 */
#include "domain-xml.h"
#include "fuzz.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = fuzz_strdup(data, size);
    PolicyDomainCaps caps;
    char *error = NULL;
    int r;

    /* the policy metadata: pairs, keys unique, bounded in number */
    g_autoptr(GPtrArray) pairs = NULL;
    r = domain_xml_parse_policy(xml, &pairs, &error);
    if (r < 0) {
        FUZZ_CHECK(error != NULL && pairs == NULL);
        g_clear_pointer(&error, g_free);
    } else {
        FUZZ_CHECK(error == NULL && pairs != NULL && pairs->len % 2 == 0);
        FUZZ_CHECK(pairs->len / 2 <= DOMAIN_XML_POLICY_MAX_KEYS);
        for (guint i = 0; i < pairs->len; i += 2)
            for (guint j = i + 2; j < pairs->len; j += 2)
                FUZZ_CHECK(strcmp(pairs->pdata[i], pairs->pdata[j]) != 0);
    }

    memset(&caps, 0x5a, sizeof(caps));
    r = domain_xml_parse_caps(xml, &caps, &error);
    if (r < 0) {
        FUZZ_CHECK(error != NULL);
        g_free(error);
        return 0;
    }
    FUZZ_CHECK(error == NULL);
    FUZZ_CHECK(caps.n_virtio_mem <= POLICY_MAX_VIRTIO_MEM);
    /* the balloon and the devices fit in <memory>, without wrapping */
    unsigned __int128 held = caps.balloon_max_kib;
    for (size_t i = 0; i < caps.n_virtio_mem; i++) {
        held += caps.virtio_mem[i].size_kib;
        FUZZ_CHECK(caps.virtio_mem[i].block_kib > 0);
        FUZZ_CHECK(caps.virtio_mem[i].requested_kib <= caps.virtio_mem[i].size_kib);
    }
    FUZZ_CHECK(held <= caps.total_memory_kib);
    for (size_t i = 0; i < caps.n_virtio_mem; i++) {
        const PolicyVirtioMem *vm = &caps.virtio_mem[i];
        g_autofree char *dev = NULL;

        FUZZ_CHECK(memchr(vm->alias, '\0', sizeof(vm->alias)) != NULL);
        if (vm->alias[0] == '\0')
            continue;
        r = domain_xml_virtio_mem_update(xml, vm->alias, vm->block_kib, &dev, &error);
        if (r < 0) {
            FUZZ_CHECK(error != NULL);
            g_clear_pointer(&error, g_free);
        } else {
            FUZZ_CHECK(dev != NULL && error == NULL);
        }
    }
    g_free(domain_xml_dimm(caps.dimm_block_kib, caps.dimm_node));
    return 0;
}
