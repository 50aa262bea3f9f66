/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log-limit.h"

#include <glib.h>
#include <string.h>

bool log_limiter_admit(LogLimiter *l, const char *msg, uint64_t now_us, uint64_t *ret_held)
{
    LogLimitSlot *victim = NULL;

    *ret_held = 0;
    for (size_t i = 0; i < LOG_LIMIT_SLOTS; i++) {
        LogLimitSlot *s = &l->slots[i];

        if (s->text && strcmp(s->text, msg) == 0) {
            if (now_us >= s->last_us && now_us - s->last_us < LOG_LIMIT_WINDOW_US) {
                s->held++;
                return false;
            }
            *ret_held = s->held;
            s->held = 0;
            s->last_us = now_us;
            return true;
        }
        if (!s->text)
            victim = victim && !victim->text ? victim : s;
        else if (!victim || (victim->text && s->last_us < victim->last_us))
            victim = s;
    }
    g_free(victim->text);
    victim->text = g_strdup(msg);
    victim->last_us = now_us;
    victim->held = 0;
    return true;
}

void log_limiter_clear(LogLimiter *l)
{
    for (size_t i = 0; i < LOG_LIMIT_SLOTS; i++) {
        g_free(l->slots[i].text);
        l->slots[i] = (LogLimitSlot){0};
    }
}
