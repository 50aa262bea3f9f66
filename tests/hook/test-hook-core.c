/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dynmem-hook's pure half (src/hook/hook-core.c): arguments, actions, lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "hook-core.h"

#define SEC G_USEC_PER_SEC

/* Up to 8 arguments after argv[0], NULL-terminated in the table. */
typedef struct {
    const char *argv[9];
    int r;
    const char *config; /* expected config_path (NULL: default) */
    uint64_t margin_us;
    const char *domain, *operation, *suboperation, *extra;
    const char *error; /* expected error text (a substring) */
} ArgsCase;

static void test_args_table(void **state)
{
    static const ArgsCase cases[] = {
        /* libvirt's own call */
        {{"vm1", "prepare", "begin", "-", NULL},
         0,
         NULL,
         10 * SEC,
         "vm1",
         "prepare",
         "begin",
         "-",
         NULL},
        {{"--config", "/p.yaml", "vm1", "release", "end", "shutdown", NULL},
         0,
         "/p.yaml",
         10 * SEC,
         "vm1",
         "release",
         "end",
         "shutdown",
         NULL},
        {{"--config=/q.yaml", "--timeout-margin=1s", "vm1", "prepare", "begin", "-", NULL},
         0,
         "/q.yaml",
         1 * SEC,
         "vm1",
         "prepare",
         "begin",
         "-",
         NULL},
        {{"--timeout-margin", "250ms", "vm1", "prepare", "begin", "-", NULL},
         0,
         NULL,
         250000,
         "vm1",
         "prepare",
         "begin",
         "-",
         NULL},
        /* the last four are libvirt's whatever they look like */
        {{"--config", "prepare", "begin", "-", NULL},
         0,
         NULL,
         10 * SEC,
         "--config",
         "prepare",
         "begin",
         "-",
         NULL},
        {{"--config", "/p", "-x", "prepare", "begin", "-", NULL},
         0,
         "/p",
         10 * SEC,
         "-x",
         "prepare",
         "begin",
         "-",
         NULL},
        /* bad */
        {{NULL}, -EINVAL, .error = "got 0 arguments"},
        {{"vm1", "prepare", "begin"}, -EINVAL, .error = "got 3 arguments"},
        {{"--help", "vm1", "prepare", "begin", "-"}, -EINVAL, .error = "unknown option \"--help\""},
        {{"--bogus", "vm1", "prepare", "begin", "-"},
         -EINVAL,
         .error = "unknown option \"--bogus\""},
        {{"--config", "vm1", "prepare", "begin", "-"}, -EINVAL, .error = "--config needs a value"},
        {{"--config=", "vm1", "prepare", "begin", "-"}, -EINVAL, .error = "--config needs a file"},
        {{"--timeout-margin=soon", "vm1", "prepare", "begin", "-"},
         -EINVAL,
         .error = "--timeout-margin: "},
        {{"--evil\n\x1b[31m", "vm1", "prepare", "begin", "-"},
         -EINVAL,
         .error = "unknown option \"--evil\\n\\u001B[31m\""},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const ArgsCase *c = &cases[i];
        char *argv[10] = {"dynmem-hook"};
        int argc = 1;
        while (c->argv[argc - 1])
            argv[argc] = (char *)c->argv[argc - 1], argc++;

        HookArgs a;
        g_autofree char *error = NULL;
        int r = hook_args_parse(argc, argv, &a, &error);
        if (r != c->r)
            fail_msg("case %zu: returned %d, expected %d (%s)", i, r, c->r, error ? error : "");
        if (r < 0) {
            if (!strstr(error, c->error))
                fail_msg("case %zu: error \"%s\", expected it to contain \"%s\"", i, error,
                         c->error);
            assert_null(strchr(error, '\n'));
            continue;
        }
        assert_false(a.help);
        if (g_strcmp0(a.config_path, c->config) != 0)
            fail_msg("case %zu: config %s, expected %s", i, a.config_path, c->config);
        assert_int_equal(a.margin_us, c->margin_us);
        assert_string_equal(a.domain, c->domain);
        assert_string_equal(a.operation, c->operation);
        assert_string_equal(a.suboperation, c->suboperation);
        assert_string_equal(a.extra, c->extra);
    }
}

static void test_args_help_version(void **state)
{
    char *help[] = {"dynmem-hook", "--help"};
    char *version[] = {"dynmem-hook", "--version"};
    HookArgs a;

    (void)state;
    assert_int_equal(hook_args_parse(2, help, &a, NULL), 0);
    assert_true(a.help);
    assert_int_equal(hook_args_parse(2, version, &a, NULL), 0);
    assert_true(a.version);
    assert_false(a.help);
}

static void test_actions(void **state)
{
    static const struct {
        const char *op, *sub;
        HookAction action;
    } cases[] = {
        {"prepare", "begin", HOOK_ACTION_ADMIT},  {"release", "end", HOOK_ACTION_RELEASE},
        {"stopped", "end", HOOK_ACTION_RELEASE},  {"start", "begin", HOOK_ACTION_NONE},
        {"started", "begin", HOOK_ACTION_NONE},   {"prepare", "end", HOOK_ACTION_NONE},
        {"migrate", "begin", HOOK_ACTION_NONE},   {"restore", "begin", HOOK_ACTION_NONE},
        {"reconnect", "begin", HOOK_ACTION_NONE}, {"attach", "begin", HOOK_ACTION_NONE},
        {"PREPARE", "BEGIN", HOOK_ACTION_NONE},   {"", "", HOOK_ACTION_NONE},
        {"prepare", "begin ", HOOK_ACTION_NONE},  {NULL, "begin", HOOK_ACTION_NONE},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
        if (hook_action_for(cases[i].op, cases[i].sub) != cases[i].action)
            fail_msg("case %zu: %s %s", i, cases[i].op, cases[i].sub);
}

static void test_call_timeout(void **state)
{
    (void)state;
    /* the default: host.admission-wait 30s + 10s */
    assert_int_equal(hook_call_timeout_us(30 * SEC, HOOK_CALL_MARGIN_US), 40 * SEC);
    assert_int_equal(hook_call_timeout_us(0, 1 * SEC), 1 * SEC);
    assert_int_equal(hook_call_timeout_us(300 * SEC, 10 * SEC), 310 * SEC);
    /* never sd-bus's "default" 0, never wrapped */
    assert_int_equal(hook_call_timeout_us(0, 0), 1);
    assert_int_equal(hook_call_timeout_us(UINT64_MAX, 10 * SEC), UINT64_MAX);
}

static void test_message_for_line(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        /* the contract's one-line message is shown as it is */
        {"cannot start vdi-07: needs 1 GiB at startup; 420 MiB could be freed",
         "cannot start vdi-07: needs 1 GiB at startup; 420 MiB could be freed"},
        {"quoted \"vm\" and a \\ stay", "quoted \"vm\" and a \\ stay"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"", ""},
        /* anything that would break the line is escaped */
        {"two\nlines", "two\\nlines"},
        {"vm \"a\"\n", "vm \\\"a\\\"\\n"},
        {"esc\x1b[2J", "esc\\u001B[2J"},
        {"rtl\xe2\x80\xaeok", "rtl\\u202Eok"},
        {"bad\xff", "bad\\377"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *out = hook_message_for_line(cases[i].in);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, out, cases[i].out);
    }
    g_autofree char *null = hook_message_for_line(NULL);
    assert_string_equal(null, "");

    /* bounded, plain or escaped, and cut on a character */
    g_autofree char *huge = g_strnfill(100000, 'x');
    g_autofree char *cut = hook_message_for_line(huge);
    assert_int_equal(strlen(cut), HOOK_MESSAGE_MAX_CHARS + 3);
    GString *accents = g_string_new(NULL);
    for (int i = 0; i < 2000; i++)
        g_string_append(accents, "\xc3\xa9");
    g_autofree char *cut_utf8 = hook_message_for_line(accents->str);
    assert_true(g_utf8_validate(cut_utf8, -1, NULL));
    assert_int_equal(g_utf8_strlen(cut_utf8, -1), HOOK_MESSAGE_MAX_CHARS + 3);
    g_string_free(accents, TRUE);
    g_autofree char *lines = g_strnfill(100000, '\n');
    g_autofree char *cut_lines = hook_message_for_line(lines);
    assert_null(strchr(cut_lines, '\n'));
    assert_true(strlen(cut_lines) <= 2 * HOOK_MESSAGE_MAX_CHARS + 3);
}

static void test_failure_reasons(void **state)
{
    static const struct {
        int r;
        const char *name, *message, *out;
    } cases[] = {
        {-EHOSTUNREACH, "org.freedesktop.DBus.Error.ServiceUnknown",
         "The name org.dynmem1 was not provided by any .service files",
         "nothing owns org.dynmem1 on the system bus"},
        {-ENXIO, "org.freedesktop.DBus.Error.NameHasNoOwner", "no owner",
         "nothing owns org.dynmem1 on the system bus"},
        {-ETIMEDOUT, "org.freedesktop.DBus.Error.Timeout", "Connection timed out",
         "no reply within 40s"},
        {-ETIMEDOUT, NULL, NULL, "no reply within 40s"},
        {-EIO, "org.freedesktop.DBus.Error.NoReply",
         "Message recipient disconnected from message bus without replying",
         "no reply: Message recipient disconnected from message bus without replying"},
        {-EBADR, "org.freedesktop.DBus.Error.UnknownMethod", "Unknown method Admit",
         "this dynmemd has no Admit method: an older version?"},
        {-EACCES, "org.freedesktop.DBus.Error.AccessDenied", "Rejected send message",
         "org.freedesktop.DBus.Error.AccessDenied: Rejected send message"},
        {-EIO, "org.dynmem1.Error.Failed", "", "org.dynmem1.Error.Failed"},
        {-EIO, "org.dynmem1.Error.Failed", "line one\nline two",
         "org.dynmem1.Error.Failed: line one\\nline two"},
        {-ECONNRESET, NULL, NULL, "Admit: Connection reset by peer"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *out = hook_call_failure_reason(cases[i].r, cases[i].name, cases[i].message,
                                                        "Admit", 40 * SEC);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, out, cases[i].out);
    }
}

static void test_outcomes(void **state)
{
    g_autofree char *line = NULL;

    (void)state;
    assert_int_equal(
        hook_unreachable_outcome("vm1", "no reply within 1s", POLICY_UNREACHABLE_ALLOW, &line), 0);
    assert_string_equal(
        line, "dynmem: dynmemd did not answer (no reply within 1s); vm1 starts without admission");
    g_clear_pointer(&line, g_free);
    assert_int_equal(
        hook_unreachable_outcome("vm1", "no reply within 1s", POLICY_UNREACHABLE_REFUSE, &line), 1);
    assert_string_equal(line, "dynmem: cannot start vm1: dynmemd did not answer (no reply within "
                              "1s) and host.admission-unreachable is refuse");
    g_clear_pointer(&line, g_free);

    /* a hostile name stays on its line */
    assert_int_equal(hook_unreachable_outcome("a\nb\x1b", "r\n", POLICY_UNREACHABLE_REFUSE, &line),
                     1);
    assert_string_equal(line, "dynmem: cannot start a\\nb\\u001B: dynmemd did not answer (r\\n) "
                              "and host.admission-unreachable is refuse");
    g_clear_pointer(&line, g_free);
    g_autofree char *long_name = g_strnfill(5000, 'n');
    hook_unreachable_outcome(long_name, "x", POLICY_UNREACHABLE_ALLOW, &line);
    assert_true(strlen(line) < HOOK_NAME_MAX_CHARS + 100);
    g_clear_pointer(&line, g_free);

    /* answers */
    assert_int_equal(hook_answer_outcome("vm1", true, "", &line), 0);
    assert_null(line);
    assert_int_equal(hook_answer_outcome("vm1", true, "would have been refused: x", &line), 0);
    assert_string_equal(line, "dynmem: would have been refused: x");
    g_clear_pointer(&line, g_free);
    assert_int_equal(hook_answer_outcome("vm1", false, "cannot start vm1: needs 1 GiB", &line), 1);
    assert_string_equal(line, "dynmem: cannot start vm1: needs 1 GiB");
    g_clear_pointer(&line, g_free);
    assert_int_equal(hook_answer_outcome("vm\n1", false, "", &line), 1);
    assert_string_equal(line, "dynmem: cannot start vm\\n1: dynmemd refused it");
    g_clear_pointer(&line, g_free);
    assert_int_equal(hook_answer_outcome("vm1", false, "bad\nnews", &line), 1);
    assert_string_equal(line, "dynmem: bad\\nnews");
}

static void test_policy_problem_line(void **state)
{
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);

    (void)state;
    g_autofree char *none = hook_policy_problem_line("/etc/dynmem/policy.yaml", NULL);
    assert_string_equal(none, "dynmem: /etc/dynmem/policy.yaml: cannot be used; asking dynmemd "
                              "with the built-in policy");
    g_ptr_array_add(errors, g_strdup("/p.yaml:3:5: unknown key \"admision\""));
    g_autofree char *one = hook_policy_problem_line("/p.yaml", errors);
    assert_string_equal(one, "dynmem: /p.yaml:3:5: unknown key \"admision\"; asking dynmemd with "
                             "the built-in policy");
    g_ptr_array_add(errors, g_strdup("/p.yaml:4:1: second"));
    g_ptr_array_add(errors, g_strdup("/p.yaml:5:1: third"));
    g_autofree char *three = hook_policy_problem_line("/p.yaml", errors);
    assert_string_equal(three, "dynmem: /p.yaml:3:5: unknown key \"admision\" (and 2 more errors); "
                               "asking dynmemd with the built-in policy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_table),       cmocka_unit_test(test_args_help_version),
        cmocka_unit_test(test_actions),          cmocka_unit_test(test_call_timeout),
        cmocka_unit_test(test_message_for_line), cmocka_unit_test(test_failure_reasons),
        cmocka_unit_test(test_outcomes),         cmocka_unit_test(test_policy_problem_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
