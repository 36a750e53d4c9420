// SPDX-License-Identifier: MIT
/*
 * stderr logger: one write(2) per line so lines from several threads never interleave.
 * The "<N>" priority prefix is for journald; on a terminal (an operator running the CLI) errors
 * and warnings say so in words instead. A daemon (log_set_daemon()) not under journald
 * (JOURNAL_STREAM unset: a terminal, a pipe, a file) starts each line with its UTC time, as
 * journald would have recorded it.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int log_max_level = LOG_LEVEL_INFO;
static _Atomic int log_stamp; /* log_set_daemon() */

void log_set_daemon(void)
{
	const char *j = getenv("JOURNAL_STREAM");

	atomic_store_explicit(&log_stamp, !j || !*j, memory_order_relaxed);
}

char *log_time(long long t, char out[LOG_TIME_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(out, LOG_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, LOG_TIME_MAX, "-");
	return out;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ " at the start of <line>; its length. */
static int log_stamp_now(char *line, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm))
		return 0;
	n = strftime(line, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return 0;
	return (int)n + snprintf(line + n, size - n, ".%03dZ ", (int)(ts.tv_nsec / 1000000));
}

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
	n = atomic_load_explicit(&log_stamp, memory_order_relaxed)
	            ? log_stamp_now(line, sizeof(line))
	            : 0;
	if (!log_on_tty())
		n += snprintf(line + n, sizeof(line) - (size_t)n, "<%d>", prio);
	else
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s",
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
