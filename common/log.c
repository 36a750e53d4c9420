// SPDX-License-Identifier: MIT
/*
 * stderr logger: one write(2) per line so lines from several threads never interleave.
 * No timestamps: journald and the test harness add their own. The "<N>" priority prefix is
 * for journald; on a terminal (an operator running the CLI) errors and warnings say so in
 * words instead.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

int log_max_level = LOG_LEVEL_INFO;

/* Whether stderr is a terminal, asked once. */
static int log_on_tty(void)
{
	static _Atomic int tty = -1;
	int t = atomic_load_explicit(&tty, memory_order_relaxed);

	if (t < 0) {
		t = isatty(STDERR_FILENO) == 1;
		atomic_store_explicit(&tty, t, memory_order_relaxed);
	}
	return t;
}

void log_msg(int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n, m;

	if (prio > log_max_level)
		return;
	if (!log_on_tty())
		n = snprintf(line, sizeof(line), "<%d>", prio);
	else
		n = snprintf(line, sizeof(line), "%s",
		             prio <= LOG_LEVEL_ERR       ? "error: "
		             : prio == LOG_LEVEL_WARNING ? "warning: "
		                                         : "");
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep the line whole */
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
