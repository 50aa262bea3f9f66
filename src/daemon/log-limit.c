/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log-limit.h"

typedef struct {
    uint64_t last_us; /* when it was last printed */
    uint64_t held;    /* identical ones held back since */
} LogLimitEntry;

static bool window_open(const LogLimitEntry *e, uint64_t now_us)
{
    /* a clock that went backwards never holds a message for ever */
    return now_us >= e->last_us && now_us - e->last_us < LOG_LIMIT_WINDOW_US;
}

/* Room for one more text: the ones done with first, else the oldest. */
static void make_room(LogLimiter *l, uint64_t now_us)
{
    GHashTableIter it;
    void *key, *value;
    const char *oldest = NULL;
    uint64_t oldest_us = UINT64_MAX;

    g_hash_table_iter_init(&it, l->texts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const LogLimitEntry *e = value;
        if (!window_open(e, now_us) && e->held == 0)
            g_hash_table_iter_remove(&it);
        else if (e->last_us < oldest_us) {
            oldest_us = e->last_us;
            oldest = key;
        }
    }
    if (g_hash_table_size(l->texts) >= LOG_LIMIT_MAX_TEXTS && oldest)
        g_hash_table_remove(l->texts, oldest);
}

bool log_limiter_admit(LogLimiter *l, const char *msg, uint64_t now_us, uint64_t *ret_held)
{
    *ret_held = 0;
    if (!l->texts)
        l->texts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    LogLimitEntry *e = g_hash_table_lookup(l->texts, msg);
    if (e) {
        if (window_open(e, now_us)) {
            e->held++;
            return false;
        }
        *ret_held = e->held;
        e->held = 0;
        e->last_us = now_us;
        return true;
    }
    if (g_hash_table_size(l->texts) >= LOG_LIMIT_MAX_TEXTS)
        make_room(l, now_us);
    e = g_new0(LogLimitEntry, 1);
    e->last_us = now_us;
    g_hash_table_insert(l->texts, g_strdup(msg), e);
    return true;
}

unsigned log_limiter_size(const LogLimiter *l)
{
    return l->texts ? g_hash_table_size(l->texts) : 0;
}

void log_limiter_clear(LogLimiter *l)
{
    g_clear_pointer(&l->texts, g_hash_table_unref);
}
