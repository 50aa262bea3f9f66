/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmem-sim's output: the table (one row per algorithm), the JSON for
 * scripts, and the plot through gnuplot.
 */
#pragma once

#include "sim-run.h"

/* The table of one scenario, newly allocated. */
char *sim_format_table(const SimScenario *s, const SimResult *res, size_t n);

/* One scenario's results as a JSON object, newly allocated. */
char *sim_format_json(const SimScenario *s, const SimResult *res, size_t n);

/* The gnuplot script and its data for one scenario: one panel per
 * algorithm, assigned against demand per VM (or in total) with the host's
 * budget. out is a .png or .svg file. Returns 0, or a negative errno with
 * *ret_error (gnuplot missing or failing). */
int sim_plot(const SimScenario *s, const SimResult *res, size_t n, const char *out,
             char **ret_error);
