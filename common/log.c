// SPDX-License-Identifier: MIT
/*
 * stderr logger: one write(2) per line so lines from several threads never interleave.
 * No timestamps: journald and the test harness add their own.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int log_max_level = LOG_LEVEL_INFO;

void log_msg(int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n, m;

	if (prio > log_max_level)
		return;
	n = snprintf(line, sizeof(line), "<%d>", prio);
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
