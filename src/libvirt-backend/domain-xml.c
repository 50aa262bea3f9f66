/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "domain-xml.h"
#include "text.h"

#include <errno.h>
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)
typedef xmlChar DynmemXmlChar;
static void dynmem_xml_char_free(DynmemXmlChar *p)
{
    xmlFree(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DynmemXmlChar, dynmem_xml_char_free)

/* libvirt's size units (formatdomain, "memory"): bytes, the decimal
 * KB/MB/... and the binary k/KiB/M/MiB/..., compared without case. */
static const struct {
    const char *unit;
    uint64_t num; /* bytes per unit = num */
} size_units[] = {
    {"b", 1},
    {"bytes", 1},
    {"KB", 1000},
    {"k", 1024},
    {"KiB", 1024},
    {"MB", 1000000},
    {"M", 1048576},
    {"MiB", 1048576},
    {"GB", 1000000000},
    {"G", 1073741824},
    {"GiB", 1073741824},
    {"TB", 1000000000000},
    {"T", 1099511627776},
    {"TiB", 1099511627776},
};

int domain_xml_scale_kib(const char *number, const char *unit, uint64_t *ret_kib)
{
    uint64_t per_unit = 0;
    if (!unit || !*unit)
        unit = "KiB";
    for (size_t i = 0; i < G_N_ELEMENTS(size_units); i++) {
        if (g_ascii_strcasecmp(unit, size_units[i].unit) == 0) {
            per_unit = size_units[i].num;
            break;
        }
    }
    if (per_unit == 0)
        return -EINVAL;
    if (!number || !g_ascii_isdigit(number[0]))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long n = g_ascii_strtoull(number, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        return -EINVAL;
    /* bytes = n * per_unit, then KiB rounded up, without overflow */
    if (n != 0 && per_unit > UINT64_MAX / n) {
        /* try in KiB directly when the unit is a multiple of 1024 */
        if (per_unit % 1024 != 0 || n > UINT64_MAX / (per_unit / 1024))
            return -ERANGE;
        *ret_kib = n * (per_unit / 1024);
        return 0;
    }
    uint64_t bytes = n * per_unit;
    *ret_kib = bytes / 1024 + (bytes % 1024 ? 1 : 0);
    return 0;
}

/* The first node matching expr relative to ctx->node, or NULL. */
static xmlNode *xpath_node(xmlXPathContext *ctx, xmlNode *at, const char *expr)
{
    ctx->node = at;
    g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    if (!obj || obj->type != XPATH_NODESET || !obj->nodesetval || obj->nodesetval->nodeNr == 0)
        return NULL;
    return obj->nodesetval->nodeTab[0];
}

/* A size element (<memory unit='KiB'>123</memory>) at expr. Returns 0,
 * -ENOENT when absent, -EINVAL when malformed. */
static int xpath_size_kib(xmlXPathContext *ctx, xmlNode *at, const char *expr, uint64_t *ret,
                          char **ret_error)
{
    xmlNode *n = xpath_node(ctx, at, expr);
    if (!n)
        return -ENOENT;
    g_autoptr(DynmemXmlChar) text = xmlNodeGetContent(n);
    g_autoptr(DynmemXmlChar) unit = xmlGetProp(n, BAD_CAST "unit");
    g_autofree char *stripped = g_strstrip(g_strdup(text ? (const char *)text : ""));
    uint64_t kib;
    if (domain_xml_scale_kib(stripped, (const char *)unit, &kib) < 0) {
        *ret_error =
            g_strdup_printf("domain XML: <%s> has an unreadable size \"%s\" (unit %s)",
                            (const char *)n->name, stripped, unit ? (const char *)unit : "KiB");
        return -EINVAL;
    }
    *ret = kib;
    return 0;
}

static int xml_uint_prop(xmlNode *n, const char *name, long long min, long long max, long long *ret)
{
    g_autoptr(DynmemXmlChar) v = xmlGetProp(n, BAD_CAST name);
    if (!v)
        return -ENOENT;
    char *end = NULL;
    errno = 0;
    long long x = strtoll((const char *)v, &end, 10);
    if (errno != 0 || end == (const char *)v || *end != '\0' || x < min || x > max)
        return -EINVAL;
    *ret = x;
    return 0;
}

static int xml_uint_content(xmlXPathContext *ctx, xmlNode *at, const char *expr, long long min,
                            long long max, long long *ret)
{
    xmlNode *n = xpath_node(ctx, at, expr);
    if (!n)
        return -ENOENT;
    g_autoptr(DynmemXmlChar) v = xmlNodeGetContent(n);
    g_autofree char *s = g_strstrip(g_strdup(v ? (const char *)v : ""));
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || x < min || x > max)
        return -EINVAL;
    *ret = x;
    return 0;
}

static xmlDoc *parse_doc(const char *xml, char **ret_error)
{
    if (!xml) {
        *ret_error = g_strdup("domain XML: empty");
        return NULL;
    }
    size_t len = strlen(xml);
    if (len > INT_MAX) {
        *ret_error = g_strdup("domain XML: too large");
        return NULL;
    }
    /* No network, no entity expansion: the XML comes from libvirt, but it
     * is still outside input. */
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !xmlDocGetRootElement(doc) ||
        !xmlStrEqual(xmlDocGetRootElement(doc)->name, BAD_CAST "domain")) {
        if (doc)
            xmlFreeDoc(doc);
        *ret_error = g_strdup("domain XML: not a <domain> document");
        return NULL;
    }
    return doc;
}

static int parse_virtio_mem(xmlXPathContext *ctx, xmlNode *dev, PolicyVirtioMem *vm,
                            char **ret_error)
{
    int r;
    memset(vm, 0, sizeof(*vm));
    xmlNode *alias = xpath_node(ctx, dev, "alias");
    g_autoptr(DynmemXmlChar) name = alias ? xmlGetProp(alias, BAD_CAST "name") : NULL;
    if (!name || xmlStrlen(name) == 0 || xmlStrlen(name) >= POLICY_ALIAS_MAX) {
        *ret_error = g_strdup("domain XML: a virtio-mem device has no usable alias");
        return -EINVAL;
    }
    g_strlcpy(vm->alias, (const char *)name, sizeof(vm->alias));
    if ((r = xpath_size_kib(ctx, dev, "target/size", &vm->size_kib, ret_error)) < 0 ||
        (r = xpath_size_kib(ctx, dev, "target/block", &vm->block_kib, ret_error)) < 0) {
        if (r == -ENOENT)
            *ret_error =
                g_strdup_printf("domain XML: virtio-mem %s lacks <size> or <block>", vm->alias);
        return -EINVAL;
    }
    r = xpath_size_kib(ctx, dev, "target/requested", &vm->requested_kib, ret_error);
    if (r == -EINVAL)
        return r;
    r = xpath_size_kib(ctx, dev, "target/current", &vm->current_kib, ret_error);
    if (r == -EINVAL)
        return r;
    if (r == -ENOENT) /* older libvirt: assume the guest follows the request */
        vm->current_kib = vm->requested_kib;
    long long node = 0;
    if (xml_uint_content(ctx, dev, "target/node", 0, 4096, &node) == -EINVAL) {
        *ret_error = g_strdup_printf("domain XML: virtio-mem %s has a bad <node>", vm->alias);
        return -EINVAL;
    }
    vm->node = (int)node;
    if (vm->block_kib == 0 || vm->requested_kib > vm->size_kib) {
        *ret_error = g_strdup_printf("domain XML: virtio-mem %s has inconsistent sizes", vm->alias);
        return -EINVAL;
    }
    return 0;
}

/* The document and an XPath context on it, both owned by the caller. */
static int parse_doc_ctx(const char *xml, xmlDoc **ret_doc, xmlXPathContext **ret_ctx,
                         char **ret_error)
{
    g_autoptr(xmlDoc) doc = parse_doc(xml, ret_error);
    if (!doc)
        return -EINVAL;
    xmlXPathContext *ctx = xmlXPathNewContext(doc);
    if (!ctx) {
        *ret_error = g_strdup("domain XML: out of memory");
        return -ENOMEM;
    }
    *ret_doc = g_steal_pointer(&doc);
    *ret_ctx = ctx;
    return 0;
}

int domain_xml_parse_caps(const char *xml, PolicyDomainCaps *ret, char **ret_error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    int pr = parse_doc_ctx(xml, &doc, &ctx, ret_error);
    if (pr < 0)
        return pr;
    xmlNode *root = xmlDocGetRootElement(doc);
    PolicyDomainCaps caps = {.dimm_node = -1, .dimm_block_kib = POLICY_DIMM_BLOCK_KIB_DEFAULT};
    int r;

    r = xpath_size_kib(ctx, root, "/domain/memory", &caps.total_memory_kib, ret_error);
    if (r == -ENOENT) {
        *ret_error = g_strdup("domain XML: no <memory> element");
        return -EINVAL;
    }
    if (r < 0)
        return r;
    r = xpath_size_kib(ctx, root, "/domain/maxMemory", &caps.max_memory_kib, ret_error);
    if (r == -EINVAL)
        return r;
    long long slots = 0;
    xmlNode *maxmem = xpath_node(ctx, root, "/domain/maxMemory");
    if (maxmem && xml_uint_prop(maxmem, "slots", 0, 4096, &slots) == -EINVAL) {
        *ret_error = g_strdup("domain XML: <maxMemory slots> is not a number");
        return -EINVAL;
    }

    xmlNode *balloon = xpath_node(ctx, root, "/domain/devices/memballoon");
    g_autoptr(DynmemXmlChar) model = balloon ? xmlGetProp(balloon, BAD_CAST "model") : NULL;
    caps.has_balloon = model && !xmlStrEqual(model, BAD_CAST "none");
    if (caps.has_balloon) {
        g_autoptr(DynmemXmlChar) deflate = xmlGetProp(balloon, BAD_CAST "autodeflate");
        caps.balloon_autodeflate = deflate && xmlStrEqual(deflate, BAD_CAST "on");
        xmlNode *stats = xpath_node(ctx, balloon, "stats");
        long long period = 0;
        if (stats && xml_uint_prop(stats, "period", 0, INT_MAX, &period) == -EINVAL) {
            *ret_error = g_strdup("domain XML: <memballoon><stats period> is not a number");
            return -EINVAL;
        }
        caps.stats_period_s = (uint32_t)period;
    }

    /* Memory devices: libvirt 9.0 counts every one of them (DIMMs and
     * virtio-mem alike) against <maxMemory slots>; of a virtio-mem device
     * only its `current` is plugged memory. */
    ctx->node = root;
    g_autoptr(xmlXPathObject) devs = xmlXPathEvalExpression(BAD_CAST "/domain/devices/memory", ctx);
    uint64_t vmem_size_sum = 0;
    uint32_t used_slots = 0;
    int n_devs = (devs && devs->nodesetval) ? devs->nodesetval->nodeNr : 0;
    for (int i = 0; i < n_devs; i++) {
        xmlNode *dev = devs->nodesetval->nodeTab[i];
        g_autoptr(DynmemXmlChar) m = xmlGetProp(dev, BAD_CAST "model");
        used_slots++;
        if (m && xmlStrEqual(m, BAD_CAST "virtio-mem")) {
            PolicyVirtioMem vm;
            if ((r = parse_virtio_mem(ctx, dev, &vm, ret_error)) < 0)
                return r;
            /* every device's size is outside the balloon's reach; only the
             * first POLICY_MAX_VIRTIO_MEM are driven */
            if (__builtin_add_overflow(vmem_size_sum, vm.size_kib, &vmem_size_sum))
                vmem_size_sum = UINT64_MAX; /* wrapped, it would pass the check below */
            if (caps.n_virtio_mem < POLICY_MAX_VIRTIO_MEM)
                caps.virtio_mem[caps.n_virtio_mem++] = vm;
        } else if (m && xmlStrEqual(m, BAD_CAST "dimm")) {
            caps.n_dimms++;
        }
    }
    if (vmem_size_sum > caps.total_memory_kib) {
        *ret_error = g_strdup("domain XML: virtio-mem sizes exceed <memory>");
        return -EINVAL;
    }
    caps.balloon_max_kib = caps.total_memory_kib - vmem_size_sum;
    caps.free_dimm_slots = (uint32_t)slots > used_slots ? (uint32_t)slots - used_slots : 0;

    /* DIMMs need a NUMA cell to land in (and ACPI, without which QEMU
     * refuses memory hotplug). */
    xmlNode *cell = xpath_node(ctx, root, "/domain/cpu/numa/cell");
    xmlNode *acpi = xpath_node(ctx, root, "/domain/features/acpi");
    long long cell_id = 0;
    if (cell && acpi && caps.max_memory_kib > 0 && caps.free_dimm_slots > 0) {
        if (xml_uint_prop(cell, "id", 0, 4096, &cell_id) == -EINVAL) {
            *ret_error = g_strdup("domain XML: <numa><cell id> is not a number");
            return -EINVAL;
        }
        caps.dimm_node = (int)cell_id;
    }
    *ret = caps;
    return 0;
}

int domain_xml_virtio_mem_update(const char *domain_xml, const char *alias, uint64_t requested_kib,
                                 char **ret_xml, char **ret_error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    int pr = parse_doc_ctx(domain_xml, &doc, &ctx, ret_error);
    if (pr < 0)
        return pr;
    xmlNode *root = xmlDocGetRootElement(doc);
    ctx->node = root;
    g_autoptr(xmlXPathObject) devs =
        xmlXPathEvalExpression(BAD_CAST "/domain/devices/memory[@model='virtio-mem']", ctx);
    int n_devs = (devs && devs->nodesetval) ? devs->nodesetval->nodeNr : 0;
    for (int i = 0; i < n_devs; i++) {
        xmlNode *dev = devs->nodesetval->nodeTab[i];
        xmlNode *a = xpath_node(ctx, dev, "alias");
        g_autoptr(DynmemXmlChar) name = a ? xmlGetProp(a, BAD_CAST "name") : NULL;
        if (!name || !xmlStrEqual(name, BAD_CAST alias))
            continue;
        xmlNode *target = xpath_node(ctx, dev, "target");
        if (!target) {
            *ret_error = g_strdup_printf("domain XML: virtio-mem %s has no <target>", alias);
            return -EINVAL;
        }
        xmlNode *req = xpath_node(ctx, target, "requested");
        if (!req)
            req = xmlNewChild(target, NULL, BAD_CAST "requested", NULL);
        g_autofree char *num = g_strdup_printf("%" G_GUINT64_FORMAT, requested_kib);
        xmlNodeSetContent(req, BAD_CAST num);
        xmlSetProp(req, BAD_CAST "unit", BAD_CAST "KiB");
        /* <current> is output only; leave it out of the request. */
        xmlNode *cur = xpath_node(ctx, target, "current");
        if (cur) {
            xmlUnlinkNode(cur);
            xmlFreeNode(cur);
        }
        g_autoptr(xmlBuffer) buf = xmlBufferCreate();
        if (!buf || xmlNodeDump(buf, doc, dev, 0, 0) < 0) {
            *ret_error = g_strdup_printf("domain XML: out of memory writing virtio-mem %s", alias);
            return -ENOMEM;
        }
        *ret_xml = g_strdup((const char *)xmlBufferContent(buf));
        return 0;
    }
    *ret_error = g_strdup_printf("domain has no virtio-mem device with alias %s", alias);
    return -ENODEV; /* not -ENOENT: the domain itself is there */
}

char *domain_xml_dimm(uint64_t size_kib, int node)
{
    return g_strdup_printf("<memory model='dimm'><target><size unit='KiB'>%" G_GUINT64_FORMAT
                           "</size><node>%d</node></target></memory>",
                           size_kib, node);
}

static bool in_policy_ns(const xmlNode *n)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           xmlStrEqual(n->ns->href, BAD_CAST DOMAIN_XML_POLICY_NS);
}

int domain_xml_parse_policy(const char *xml, GPtrArray **ret_pairs, char **ret_error)
{
    g_autoptr(xmlDoc) doc = parse_doc(xml, ret_error);
    g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);
    const xmlNode *policy = NULL;

    if (!doc)
        return -EINVAL;
    for (const xmlNode *md = xmlDocGetRootElement(doc)->children; md; md = md->next) {
        if (md->type != XML_ELEMENT_NODE || !xmlStrEqual(md->name, BAD_CAST "metadata"))
            continue;
        for (const xmlNode *n = md->children; n; n = n->next) {
            if (!in_policy_ns(n))
                continue;
            if (policy) {
                *ret_error = g_strdup("more than one element of namespace " DOMAIN_XML_POLICY_NS);
                return -EBADMSG;
            }
            policy = n;
        }
    }
    for (const xmlNode *k = policy ? policy->children : NULL; k; k = k->next) {
        if (k->type != XML_ELEMENT_NODE)
            continue; /* whitespace and comments */
        g_autofree char *key = g_strndup((const char *)k->name, 64);
        g_autofree char *qkey = policy_quote(key);

        if (pairs->len / 2 >= DOMAIN_XML_POLICY_MAX_KEYS) {
            *ret_error = g_strdup_printf("more than %d keys", DOMAIN_XML_POLICY_MAX_KEYS);
            return -EBADMSG;
        }
        for (const xmlNode *c = k->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE) {
                *ret_error = g_strdup_printf("key \"%s\": expected text, found an element", qkey);
                return -EBADMSG;
            }
        for (guint i = 0; i < pairs->len; i += 2)
            if (strcmp(pairs->pdata[i], key) == 0) {
                *ret_error = g_strdup_printf("key \"%s\" given twice", qkey);
                return -EBADMSG;
            }
        g_autoptr(DynmemXmlChar) text = xmlNodeGetContent(k);
        g_ptr_array_add(pairs, g_steal_pointer(&key));
        g_ptr_array_add(pairs, g_strstrip(g_strdup(text ? (const char *)text : "")));
    }
    *ret_pairs = g_steal_pointer(&pairs);
    return 0;
}

/* The text of the first node at expr, stripped; NULL when absent. */
static char *xpath_text(xmlXPathContext *ctx, xmlNode *at, const char *expr)
{
    xmlNode *n = xpath_node(ctx, at, expr);
    if (!n)
        return NULL;
    g_autoptr(DynmemXmlChar) text = xmlNodeGetContent(n);
    return g_strstrip(g_strdup(text ? (const char *)text : ""));
}

int domain_xml_parse_start(const char *xml, BackendStart *ret, char **ret_error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    int r = parse_doc_ctx(xml, &doc, &ctx, ret_error);
    if (r < 0)
        return r;
    xmlNode *root = xmlDocGetRootElement(doc);
    g_autofree char *name = xpath_text(ctx, root, "/domain/name");
    g_autofree char *uuid = xpath_text(ctx, root, "/domain/uuid");
    if (!name || !*name) {
        *ret_error = g_strdup("domain XML: no <name>");
        return -EINVAL;
    }
    if (!uuid || !g_uuid_string_is_valid(uuid)) {
        g_autofree char *q = uuid ? policy_quote(uuid) : NULL;
        *ret_error = uuid ? g_strdup_printf("domain XML: <uuid> \"%s\" is not a UUID", q)
                          : g_strdup("domain XML: no <uuid>");
        return -EINVAL;
    }

    BackendStart start = {0};
    if ((r = domain_xml_parse_caps(xml, &start.caps, ret_error)) < 0)
        return r;
    uint64_t current = start.caps.total_memory_kib;
    r = xpath_size_kib(ctx, root, "/domain/currentMemory", &current, ret_error);
    if (r == -EINVAL)
        return r;
    start.boot_kib = MIN(current, start.caps.balloon_max_kib);
    for (size_t i = 0; i < start.caps.n_virtio_mem; i++)
        start.boot_kib += start.caps.virtio_mem[i].requested_kib;

    g_autofree char *lower = g_ascii_strdown(uuid, -1);
    g_strlcpy(start.uuid, lower, sizeof(start.uuid));
    start.name = g_steal_pointer(&name);
    g_autofree char *perr = NULL;
    if (domain_xml_parse_policy(xml, &start.policy_pairs, &perr) < 0)
        start.policy_problem = g_steal_pointer(&perr);
    *ret = start;
    return 0;
}
