/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Capabilities from live domain XML, and the device XML we send. */
#include "domain-xml.h"

#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

/* Shaped like libvirt 9.0's live XML for a guest with 512 MiB boot memory,
 * one 256 MiB DIMM, a 1 GiB virtio-mem device and 4 DIMM slots. */
static const char live_xml[] =
    "<domain type='kvm' id='3'>\n"
    "  <name>g1</name>\n"
    "  <maxMemory slots='4' unit='KiB'>4194304</maxMemory>\n"
    "  <memory unit='KiB'>1835008</memory>\n"
    "  <currentMemory unit='KiB'>1048576</currentMemory>\n"
    "  <features><acpi/></features>\n"
    "  <cpu><numa><cell id='0' cpus='0' memory='524288' unit='KiB'/></numa></cpu>\n"
    "  <devices>\n"
    "    <memballoon model='virtio' autodeflate='on'><stats period='1'/><alias "
    "name='balloon0'/></memballoon>\n"
    "    <memory model='dimm'><target><size unit='KiB'>262144</size><node>0</node></target>"
    "<alias name='dimm0'/></memory>\n"
    "    <memory model='virtio-mem'>\n"
    "      <target><size unit='KiB'>1048576</size><node>0</node>"
    "<block unit='KiB'>2048</block><requested unit='KiB'>262144</requested>"
    "<current unit='KiB'>262144</current></target>\n"
    "      <alias name='virtiomem0'/>\n"
    "    </memory>\n"
    "  </devices>\n"
    "</domain>\n";

static void test_parse_full(void **state)
{
    PolicyDomainCaps caps;
    g_autofree char *err = NULL;
    assert_int_equal(domain_xml_parse_caps(live_xml, &caps, &err), 0);
    assert_true(caps.has_balloon);
    assert_true(caps.balloon_autodeflate);
    assert_int_equal(caps.stats_period_s, 1);
    assert_int_equal(caps.total_memory_kib, 1835008);
    /* boot 512 MiB + DIMM 256 MiB: the balloon's ceiling */
    assert_int_equal(caps.balloon_max_kib, 786432);
    assert_int_equal(caps.max_memory_kib, 4194304);
    /* the DIMM and the virtio-mem device both take a slot */
    assert_int_equal(caps.free_dimm_slots, 2);
    assert_int_equal(caps.dimm_node, 0);
    /* a virtio-mem device is not a DIMM */
    assert_int_equal(caps.n_dimms, 1);
    assert_int_equal(caps.n_virtio_mem, 1);
    assert_string_equal(caps.virtio_mem[0].alias, "virtiomem0");
    assert_int_equal(caps.virtio_mem[0].size_kib, 1048576);
    assert_int_equal(caps.virtio_mem[0].block_kib, 2048);
    assert_int_equal(caps.virtio_mem[0].requested_kib, 262144);
    assert_int_equal(caps.virtio_mem[0].current_kib, 262144);
}

static void test_no_balloon_no_acpi(void **state)
{
    static const char xml[] = "<domain><memory unit='MiB'>2048</memory>"
                              "<maxMemory slots='2' unit='GiB'>8</maxMemory>"
                              "<cpu><numa><cell id='0' memory='2' unit='GiB'/></numa></cpu>"
                              "<devices><memballoon model='none'/></devices></domain>";
    PolicyDomainCaps caps;
    g_autofree char *err = NULL;
    assert_int_equal(domain_xml_parse_caps(xml, &caps, &err), 0);
    assert_false(caps.has_balloon);
    assert_int_equal(caps.n_dimms, 0);
    assert_int_equal(caps.total_memory_kib, 2097152);
    assert_int_equal(caps.max_memory_kib, 8388608);
    /* QEMU refuses memory hotplug without ACPI */
    assert_int_equal(caps.dimm_node, -1);
}

static void test_hostile(void **state)
{
    static const struct {
        const char *xml;
        const char *msg;
    } cases[] = {
        {"", "domain XML: not a <domain> document"},
        {"<network/>", "domain XML: not a <domain> document"},
        {"<domain>", "domain XML: not a <domain> document"},
        {"<domain/>", "domain XML: no <memory> element"},
        {"<domain><memory unit='parsec'>1</memory></domain>",
         "domain XML: <memory> has an unreadable size \"1\" (unit parsec)"},
        {"<domain><memory>-5</memory></domain>",
         "domain XML: <memory> has an unreadable size \"-5\" (unit KiB)"},
        {"<domain><memory>99999999999999999999999</memory></domain>",
         "domain XML: <memory> has an unreadable size \"99999999999999999999999\" (unit KiB)"},
        {"<domain><memory unit='TiB'>18446744073709551615</memory></domain>",
         "domain XML: <memory> has an unreadable size \"18446744073709551615\" (unit TiB)"},
        {"<domain><memory>1024</memory><devices><memory model='virtio-mem'><target>"
         "<size>512</size><block>2048</block></target></memory></devices></domain>",
         "domain XML: a virtio-mem device has no usable alias"},
        {"<domain><memory>1024</memory><devices><memory model='virtio-mem'><target>"
         "<size>4096</size><block>2048</block></target><alias name='v'/></memory>"
         "</devices></domain>",
         "domain XML: virtio-mem sizes exceed <memory>"},
        {"<domain><memory>1024</memory><maxMemory slots='x'>4</maxMemory></domain>",
         "domain XML: <maxMemory slots> is not a number"},
        /* two sizes of 2^63 KiB sum to 0 if the sum wraps (found by fuzzing) */
        {"<domain><memory>1024</memory><devices><memory model='virtio-mem'><target>"
         "<size>9223372036854775808</size><block>2048</block></target><alias name='a'/>"
         "</memory><memory model='virtio-mem'><target><size>9223372036854775808</size>"
         "<block>2048</block></target><alias name='b'/></memory></devices></domain>",
         "domain XML: virtio-mem sizes exceed <memory>"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        PolicyDomainCaps caps;
        g_autofree char *err = NULL;
        int r = domain_xml_parse_caps(cases[i].xml, &caps, &err);
        if (r >= 0)
            fail_msg("case %zu accepted: %s", i, cases[i].xml);
        assert_non_null(err);
        if (strcmp(err, cases[i].msg) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].msg);
    }
}

static void test_virtio_mem_update(void **state)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(domain_xml_virtio_mem_update(live_xml, "virtiomem0", 524288, &out, &err), 0);
    assert_non_null(strstr(out, "<requested unit=\"KiB\">524288</requested>"));
    assert_null(strstr(out, "<current"));
    assert_non_null(strstr(out, "<alias name=\"virtiomem0\"/>"));
    assert_non_null(strstr(out, "<size unit=\"KiB\">1048576</size>"));
    assert_true(g_str_has_prefix(out, "<memory model=\"virtio-mem\">"));
    g_autofree char *err2 = NULL;
    g_autofree char *out2 = NULL;
    assert_int_equal(domain_xml_virtio_mem_update(live_xml, "nope", 1, &out2, &err2), -ENODEV);
    assert_null(out2);
}

static void test_units(void **state)
{
    static const struct {
        const char *n, *unit;
        int r;
        uint64_t kib;
    } cases[] = {
        {"1", "KiB", 0, 1},
        {"1", NULL, 0, 1},
        {"1", "k", 0, 1},
        {"2", "MiB", 0, 2048},
        {"2", "M", 0, 2048},
        {"1", "GiB", 0, 1048576},
        {"1000", "KB", 0, 977},
        {"1", "b", 0, 1},
        {"2048", "bytes", 0, 2},
        {"1", "TiB", 0, 1073741824},
        {"1", "furlong", -EINVAL, 0},
        {"x", "KiB", -EINVAL, 0},
        {"", "KiB", -EINVAL, 0},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint64_t kib = 0;
        int r = domain_xml_scale_kib(cases[i].n, cases[i].unit, &kib);
        assert_int_equal(r, cases[i].r);
        if (r == 0)
            assert_int_equal(kib, cases[i].kib);
    }
}

/* The policy a domain carries in <metadata>: pairs in document order;
 * other namespaces, comments and whitespace ignored; nothing when absent;
 * malformed shapes refused with a reason (values are checked later, by
 * the policy's own validator). */
static void test_policy_metadata(void **state)
{
    static const struct {
        const char *metadata; /* inside <metadata> */
        int r;
        const char *pairs; /* "key=value;..." or the error's start */
    } cases[] = {
        {"", 0, ""},
        {"<x:other xmlns:x='urn:other'><weight>1</weight></x:other>", 0, ""},
        {"<d:policy xmlns:d='urn:dynmem:policy:1'><d:weight> 8000 </d:weight><!-- c -->"
         "<d:minimum>1GiB</d:minimum></d:policy>",
         0, "weight=8000;minimum=1GiB;"},
        {"<policy xmlns='urn:dynmem:policy:1'><buffer>30%</buffer></policy>", 0, "buffer=30%;"},
        {"<d:policy xmlns:d='urn:dynmem:policy:1'><d:weight>1</d:weight><d:weight>2</d:weight>"
         "</d:policy>",
         -EBADMSG, "key \"weight\" given twice"},
        {"<d:policy xmlns:d='urn:dynmem:policy:1'><d:minimum><x/></d:minimum></d:policy>", -EBADMSG,
         "key \"minimum\": expected text"},
        {"<d:policy xmlns:d='urn:dynmem:policy:1'/><e:policy xmlns:e='urn:dynmem:policy:1'/>",
         -EBADMSG, "more than one element"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *xml = g_strdup_printf(
            "<domain><name>v</name><metadata>%s</metadata></domain>", cases[i].metadata);
        g_autoptr(GPtrArray) pairs = NULL;
        g_autofree char *err = NULL;
        int r = domain_xml_parse_policy(xml, &pairs, &err);
        assert_int_equal(r, cases[i].r);
        if (r < 0) {
            assert_null(pairs);
            assert_true(g_str_has_prefix(err, cases[i].pairs));
            continue;
        }
        g_autoptr(GString) got = g_string_new(NULL);
        for (guint k = 0; k < pairs->len; k += 2)
            g_string_append_printf(got, "%s=%s;", (char *)pairs->pdata[k],
                                   (char *)pairs->pdata[k + 1]);
        assert_string_equal(got->str, cases[i].pairs);
    }
    /* too many keys */
    g_autoptr(GString) many =
        g_string_new("<domain><metadata><d:policy xmlns:d='urn:dynmem:policy:1'>");
    for (int k = 0; k <= DOMAIN_XML_POLICY_MAX_KEYS; k++)
        g_string_append_printf(many, "<d:k%d>1</d:k%d>", k, k);
    g_string_append(many, "</d:policy></metadata></domain>");
    g_autoptr(GPtrArray) pairs = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(domain_xml_parse_policy(many->str, &pairs, &err), -EBADMSG);
    assert_non_null(strstr(err, "more than"));
}

static void test_dimm_xml(void **state)
{
    g_autofree char *x = domain_xml_dimm(262144, 1);
    assert_string_equal(x, "<memory model='dimm'><target><size unit='KiB'>262144</size>"
                           "<node>1</node></target></memory>");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full),      cmocka_unit_test(test_no_balloon_no_acpi),
        cmocka_unit_test(test_hostile),         cmocka_unit_test(test_virtio_mem_update),
        cmocka_unit_test(test_units),           cmocka_unit_test(test_dimm_xml),
        cmocka_unit_test(test_policy_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
