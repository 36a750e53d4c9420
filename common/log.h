/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with syslog priority prefixes ("<3>") that journald turns into levels.
 * Messages carry stable key=value pairs for what machines grep. Codecs and crypto never log:
 * the layer that knows the context logs once.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Messages above this level are dropped. Default LOG_LEVEL_INFO; -v raises it. */
extern int log_max_level;

/* For the daemons (cert-pusher run, spoa-agent), before their first line: when not under
 * journald (JOURNAL_STREAM unset), each line starts with "2026-01-31T12:00:00.123Z ". */
void log_set_daemon(void);

/* Times in messages are ISO 8601 UTC: log_time(t, buf) is "2026-01-31T12:00:00Z" for unix
 * seconds <t>, "-" for 0. Returns <out>. */
#define LOG_TIME_MAX 24
char *log_time(long long t, char out[LOG_TIME_MAX]);

/* Write one line "<prio>fmt\n" to stderr in a single write; thread-safe. */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)    log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                         \
	do {                                                   \
		if (log_max_level >= LOG_LEVEL_DEBUG)          \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
