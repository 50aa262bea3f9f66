/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dynmem-hook's arguments, actions and lines (hook-core.h). Pure. */
#include "hook-core.h"

#include "text.h"
#include "units.h"

#include <errno.h>
#include <string.h>

/* libvirt passes exactly these four (docs/hooks.rst, "Script arguments"). */
#define LIBVIRT_ARGS 4

static int parse_option(const char *name, const char *value, HookArgs *a, char **ret_error)
{
    if (strcmp(name, "--config") == 0) {
        if (!*value)
            return policy_set_error(ret_error, -EINVAL, "--config needs a file name");
        a->config_path = value;
        return 0;
    }
    if (strcmp(name, "--timeout-margin") == 0) {
        g_autofree char *error = NULL;
        if (policy_parse_duration_us(value, &a->margin_us, &error) < 0)
            return policy_set_error(ret_error, -EINVAL, "--timeout-margin: %s", error);
        return 0;
    }
    g_autofree char *quoted = policy_quote(name);
    return policy_set_error(ret_error, -EINVAL, "unknown option \"%s\"", quoted);
}

int hook_args_parse(int argc, char **argv, HookArgs *ret, char **ret_error)
{
    HookArgs a = {.margin_us = HOOK_CALL_MARGIN_US};
    int n = argc > 0 ? argc - 1 : 0;
    char **args = argv + 1;

    if (n == 1 && (strcmp(args[0], "--help") == 0 || strcmp(args[0], "-h") == 0)) {
        a.help = true;
        *ret = a;
        return 0;
    }
    if (n == 1 && strcmp(args[0], "--version") == 0) {
        a.version = true;
        *ret = a;
        return 0;
    }
    if (n < LIBVIRT_ARGS)
        return policy_set_error(ret_error, -EINVAL,
                                "expected libvirt's DOMAIN OPERATION SUBOPERATION EXTRA, "
                                "got %d argument%s",
                                n, n == 1 ? "" : "s");

    int n_options = n - LIBVIRT_ARGS;
    for (int i = 0; i < n_options; i++) {
        const char *arg = args[i];
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) == 0 && eq) {
            g_autofree char *name = g_strndup(arg, (gsize)(eq - arg));
            int r = parse_option(name, eq + 1, &a, ret_error);
            if (r < 0)
                return r;
            continue;
        }
        if (strcmp(arg, "--config") != 0 && strcmp(arg, "--timeout-margin") != 0)
            return parse_option(arg, "", &a, ret_error);
        if (i + 1 >= n_options) {
            g_autofree char *quoted = policy_quote(arg);
            return policy_set_error(ret_error, -EINVAL, "%s needs a value", quoted);
        }
        int r = parse_option(arg, args[i + 1], &a, ret_error);
        if (r < 0)
            return r;
        i++;
    }
    a.domain = args[n_options];
    a.operation = args[n_options + 1];
    a.suboperation = args[n_options + 2];
    a.extra = args[n_options + 3];
    *ret = a;
    return 0;
}

HookAction hook_action_for(const char *operation, const char *suboperation)
{
    static const struct {
        const char *operation, *suboperation;
        HookAction action;
    } table[] = {
        /* the first of libvirt's three calls before a start, before it
         * labels anything: a refusal there costs nothing */
        {"prepare", "begin", HOOK_ACTION_ADMIT},
        /* the domain stopped, or a start failed: a reservation it holds
         * goes (release end comes last; stopped end is a second chance) */
        {"stopped", "end", HOOK_ACTION_RELEASE},
        {"release", "end", HOOK_ACTION_RELEASE},
    };

    if (!operation || !suboperation)
        return HOOK_ACTION_NONE;
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
        if (strcmp(operation, table[i].operation) == 0 &&
            strcmp(suboperation, table[i].suboperation) == 0)
            return table[i].action;
    return HOOK_ACTION_NONE;
}

uint64_t hook_call_timeout_us(uint64_t admission_wait_us, uint64_t margin_us)
{
    uint64_t sum =
        admission_wait_us > UINT64_MAX - margin_us ? UINT64_MAX : admission_wait_us + margin_us;
    return MAX(sum, 1);
}

char *hook_name_for_line(const char *name)
{
    return policy_escape(name, HOOK_NAME_MAX_CHARS);
}

static bool is_one_plain_line(const char *text)
{
    if (!g_utf8_validate(text, -1, NULL))
        return false;
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        GUnicodeType t = g_unichar_type(c);
        if (t == G_UNICODE_CONTROL || t == G_UNICODE_FORMAT || t == G_UNICODE_LINE_SEPARATOR ||
            t == G_UNICODE_PARAGRAPH_SEPARATOR)
            return false;
    }
    return true;
}

char *hook_message_for_line(const char *message)
{
    if (!message)
        return g_strdup("");
    if (!is_one_plain_line(message))
        return policy_escape(message, HOOK_MESSAGE_MAX_CHARS);
    if (g_utf8_strlen(message, -1) <= HOOK_MESSAGE_MAX_CHARS)
        return g_strdup(message);
    const char *end = g_utf8_offset_to_pointer(message, HOOK_MESSAGE_MAX_CHARS);
    return g_strdup_printf("%.*s...", (int)(end - message), message);
}

char *hook_call_failure_reason(int r, const char *error_name, const char *error_message,
                               const char *method, uint64_t timeout_us)
{
    g_autofree char *text = hook_message_for_line(error_message);

    if (error_name) {
        /* sd-bus names its own timeout org.freedesktop.DBus.Error.Timeout;
         * the bus daemon says ServiceUnknown (no activation file) or
         * NameHasNoOwner for a name nobody owns, NoReply for a callee that
         * left the bus before replying. */
        if (strcmp(error_name, "org.freedesktop.DBus.Error.ServiceUnknown") == 0 ||
            strcmp(error_name, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0)
            return g_strdup("nothing owns org.dynmem1 on the system bus");
        if (strcmp(error_name, "org.freedesktop.DBus.Error.Timeout") == 0 ||
            strcmp(error_name, "org.freedesktop.DBus.Error.TimedOut") == 0) {
            g_autofree char *d = policy_format_duration_us(timeout_us);
            return g_strdup_printf("no reply within %s", d);
        }
        if (strcmp(error_name, "org.freedesktop.DBus.Error.NoReply") == 0)
            return g_strdup_printf("no reply: %s", text);
        if (strcmp(error_name, "org.freedesktop.DBus.Error.UnknownMethod") == 0 ||
            strcmp(error_name, "org.freedesktop.DBus.Error.UnknownObject") == 0 ||
            strcmp(error_name, "org.freedesktop.DBus.Error.UnknownInterface") == 0)
            return g_strdup_printf("this dynmemd has no %s method: an older version?", method);
        g_autofree char *name = hook_message_for_line(error_name);
        return *text ? g_strdup_printf("%s: %s", name, text) : g_strdup(name);
    }
    if (r == -ETIMEDOUT) {
        g_autofree char *d = policy_format_duration_us(timeout_us);
        return g_strdup_printf("no reply within %s", d);
    }
    return g_strdup_printf("%s: %s", method, g_strerror(r < 0 ? -r : r));
}

int hook_unreachable_outcome(const char *domain, const char *reason, PolicyUnreachable unreachable,
                             char **ret_line)
{
    g_autofree char *name = hook_name_for_line(domain);
    g_autofree char *why = hook_message_for_line(reason);

    if (unreachable == POLICY_UNREACHABLE_REFUSE) {
        *ret_line = g_strdup_printf("dynmem: cannot start %s: dynmemd did not answer (%s) and "
                                    "host.admission-unreachable is refuse",
                                    name, why);
        return 1;
    }
    *ret_line = g_strdup_printf("dynmem: dynmemd did not answer (%s); %s starts without admission",
                                why, name);
    return 0;
}

int hook_answer_outcome(const char *domain, bool admitted, const char *message, char **ret_line)
{
    g_autofree char *text = hook_message_for_line(message);

    if (admitted) {
        *ret_line = *text ? g_strdup_printf("dynmem: %s", text) : NULL;
        return 0;
    }
    if (*text) {
        *ret_line = g_strdup_printf("dynmem: %s", text);
    } else {
        g_autofree char *name = hook_name_for_line(domain);
        *ret_line = g_strdup_printf("dynmem: cannot start %s: dynmemd refused it", name);
    }
    return 1;
}

char *hook_policy_problem_line(const char *path, GPtrArray *errors)
{
    g_autofree char *file = hook_message_for_line(path);
    g_autoptr(GString) s = g_string_new("dynmem: ");

    if (errors && errors->len > 0) {
        g_autofree char *first = hook_message_for_line(errors->pdata[0]);
        g_string_append(s, first);
        if (errors->len > 1)
            g_string_append_printf(s, " (and %u more error%s)", errors->len - 1,
                                   errors->len == 2 ? "" : "s");
    } else {
        g_string_append_printf(s, "%s: cannot be used", file);
    }
    g_string_append(s, "; asking dynmemd with the built-in policy");
    return g_string_free(g_steal_pointer(&s), FALSE);
}
