/* SPDX-License-Identifier: MIT */
/*
 * HAProxy runtime API client (management.txt §9.3): one persistent session on the unix stats
 * socket in `prompt` mode with `set timeout cli`, reopened when HAProxy closes it (idle timeout,
 * restart, reload). The reply parsers and classifiers below do no I/O so the unit tests and
 * the fuzzer feed them canned HAProxy 2.6 replies; the client part does blocking I/O with a
 * deadline on a local socket and never logs: errors, with HAProxy's own words, go to <err>.
 * This is the only module that opens the HAProxy socket. What to send, and when, is loader.c's.
 */
#ifndef CERT_PUSHER_HAPROXY_RT_H
#define CERT_PUSHER_HAPROXY_RT_H

#include <stddef.h>
#include <stdint.h>

#include "cert-pusher/pem.h"
#include "common/buf.h"
#include "common/strv.h"

/* Default ceiling for command + payload: HAProxy's default tune.bufsize. The CLI closes the
 * session without a word when a request does not fit its buffer (measured on 2.6.12 with
 * tune.bufsize 32768: 32650 bytes pass, 32975 are dropped), so requests are kept
 * HAPROXY_RT_BUF_MARGIN below the configured size. */
#define HAPROXY_RT_BUFSIZE_DEFAULT 16384
#define HAPROXY_RT_BUF_MARGIN      256
#define HAPROXY_RT_NAME_MAX        1024
#define HAPROXY_RT_DIR_MAX         512 /* --cert-dir: names are "<dir>/<host>.<type>.pem" */

/* HAProxy's answer to a certificate command while another CLI session holds the certificate
 * lock (it only try-locks); nothing was done. haproxy_rt_cmd() sends the command again, with
 * 1..32 ms pauses, until the command's timeout. */
#define HAPROXY_RT_LOCKED "Operations on certificates are currently locked!"

enum haproxy_rt_status {
	HAPROXY_RT_OK = 0,
	HAPROXY_RT_EXISTS,    /* new ssl cert: the store exists already */
	HAPROXY_RT_NOT_FOUND, /* no such certificate, entry, list or transaction */
	HAPROXY_RT_WRONG_TXN, /* set: HAProxy 2.6 put our PEM in another cert's transaction */
	HAPROXY_RT_BUSY,      /* set: another transaction is ongoing (HAProxy 3.2+) */
	HAPROXY_RT_IN_USE,    /* del ssl cert: still referenced by a crt-list */
	HAPROXY_RT_DUPLICATE, /* del ssl crt-list: the name is in several entries */
	HAPROXY_RT_ERROR,     /* any other refusal; the reply is in the error message */
	HAPROXY_RT_IO,        /* socket error, timeout or closed session */
	HAPROXY_RT_COUNT
};

extern const char *const haproxy_rt_status_names[HAPROXY_RT_COUNT];

/* Commands whose replies are classified. */
enum haproxy_rt_cmd {
	HAPROXY_RT_CMD_NEW = 0,
	HAPROXY_RT_CMD_SET,
	HAPROXY_RT_CMD_COMMIT,
	HAPROXY_RT_CMD_ABORT,
	HAPROXY_RT_CMD_DEL_CERT,
	HAPROXY_RT_CMD_ADD_CRTLIST,
	HAPROXY_RT_CMD_DEL_CRTLIST,
	HAPROXY_RT_CMD_COUNT
};

/* `show ssl cert NAME`, as far as the loader needs it. */
struct haproxy_rt_cert_info {
	char status[16];                 /* "Used", "Unused", "Empty" */
	char serial[PEM_SERIAL_MAX + 1]; /* uppercase hex, "" when empty */
	char not_after[40];              /* "Dec 29 03:44:41 2026 GMT" */
	char sha1[PEM_SHA1_HEX + 1];
};

/* A growable list of owned strings. */
/* ---- names ---- */

/* Whether <name> may be sent as a certificate name: 1..HAPROXY_RT_NAME_MAX bytes that
 * haproxy_rt_path_valid() accepts (certificates loaded from a crt-list are named by their
 * path), without ':' (it makes crt-list entries undeletable) nor a leading '*' (which `show ssl
 * cert` uses for transactions). */
int haproxy_rt_name_valid(const char *name);

/*
 * A wildcard's '*' never appears raw in a file name, a shell word or a runtime API token: in
 * certificate names it is written '_' ("*.example.com" -> "<dir>/_.example.com.ecdsa.pem").
 * Hostnames never hold '_' (names.h), so the form is reversible. Escape copies <host> into
 * <out> (same length; 0, or -1 when it does not fit <outsz>); unescape turns <host> back in
 * place. A raw '*' name (loaded before this form) is still recognised.
 */
#define HAPROXY_RT_WILDCARD_FILE_CHAR '_'
int haproxy_rt_host_escape(const char *host, char *out, size_t outsz);
void haproxy_rt_host_unescape(char *host);

/* Whether <name> is one the loader manages in certificate directory <dir>:
 * "<dir>/<hostname>.<ecdsa|rsa>.pem" with a hostname that names_cert_host_valid() accepts once
 * haproxy_rt_host_unescape()d. The hostname's offset in <name> to <*host_off>, its length to
 * <*host_len> (its file form: unescape a copy), the type to <*type> (each may be NULL). */
int haproxy_rt_name_managed(const char *dir, const char *name, size_t *host_off, size_t *host_len,
                            enum pem_key_type *type);

/* Whether <path> may be sent as a crt-list path: printable, no spaces, ';', '\\' or '#'. */
int haproxy_rt_path_valid(const char *path);

/* ---- reply parsing (no I/O) ---- */

/* Whether <buf>/<len> holds a complete prompt-mode reply (it ends with "\n> "). */
int haproxy_rt_reply_complete(const char *buf, size_t len);

/* The text of complete reply <buf>/<len>: the "+ " continuation prompts HAProxy echoes for
 * each payload line are skipped, the trailing prompt and newlines removed. Returns the length;
 * <*body> points into <buf>. */
size_t haproxy_rt_reply_body(const char *buf, size_t len, const char **body);

/* Classify reply text <body>/<len> of command <cmd> about certificate <name>. For
 * HAPROXY_RT_WRONG_TXN and HAPROXY_RT_BUSY, the name of the other transaction (when the reply
 * gives it) goes to <other> (may be NULL). */
enum haproxy_rt_status haproxy_rt_classify(enum haproxy_rt_cmd cmd, const char *name,
                                           const char *body, size_t len, char *other,
                                           size_t othersz);

/* `show ssl cert`: names into <certs>, open transactions (listed with a leading '*' under
 * "# transaction") into <txns> without the '*'. 0 or -1 (malformed or OOM). */
int haproxy_rt_parse_cert_list(const char *body, size_t len, struct strv *certs, struct strv *txns);

/* `show ssl crt-list LIST`: the certificate of each entry (first word of each line). 0, or -1
 * (not a crt-list dump, OOM). */
int haproxy_rt_parse_crt_list(const char *body, size_t len, struct strv *entries);

/* `show ssl crt-list -n LIST`: the line number of the first entry of certificate <name> into
 * <*line>. 1 found, 0 absent, -1 not such a dump. */
int haproxy_rt_parse_crt_list_line(const char *body, size_t len, const char *name, unsigned *line);

/* `show ssl cert NAME`: HAPROXY_RT_OK, HAPROXY_RT_NOT_FOUND or HAPROXY_RT_ERROR. */
enum haproxy_rt_status haproxy_rt_parse_cert_info(const char *body, size_t len,
                                                  struct haproxy_rt_cert_info *info);

/* `show info`: Pid and Uptime_sec. 0 or -1 when either is missing. */
int haproxy_rt_parse_info(const char *body, size_t len, uint64_t *pid, uint64_t *uptime);

/* ---- client ---- */

struct haproxy_rt {
	char path[108];           /* socket path */
	int fd;                   /* -1 while disconnected */
	int timeout_ms;           /* per command */
	size_t bufsize;           /* HAProxy's tune.bufsize */
	struct buf rx;            /* reply being read */
	unsigned long opens;      /* sessions opened so far */
	unsigned long lock_waits; /* commands sent again because the cert lock was held */
};

/* Prepare <rt> for socket <path> (not connected yet). 0 or -1 with <err> (path too long). */
int haproxy_rt_init(struct haproxy_rt *rt, const char *path, size_t bufsize, int timeout_ms,
                    char *err, size_t errsz);
void haproxy_rt_deinit(struct haproxy_rt *rt);
void haproxy_rt_close(struct haproxy_rt *rt);

/*
 * Send <cmd> (one line, no newline) with optional <payload> (sanitised PEM or one crt-list
 * line; sent as "<cmd> <<\n" + payload + "\n" so the empty line ends it). Refused here, whatever
 * the caller checked: a <cmd> that is not one printable line without ';', a payload that is
 * empty, holds a blank line, a CR or a NUL, or does not end with a newline. Reads the reply
 * text into <reply> (reset first). Opens the session when needed, and reopens it once when
 * HAProxy closed it while idle. While HAProxy answers HAPROXY_RT_LOCKED, the command is sent
 * again (counted in lock_waits) while the time spent so far is under the timeout; each attempt
 * has the whole timeout for its round trip. HAPROXY_RT_OK when a reply was read
 * (classify it), or
 * HAPROXY_RT_IO / HAPROXY_RT_ERROR (too big) with <err>.
 */
enum haproxy_rt_status haproxy_rt_cmd(struct haproxy_rt *rt, const char *cmd,
                                      const struct buf *payload, struct buf *reply, char *err,
                                      size_t errsz);

/*
 * One `show info` over a connection of its own (opened, asked, closed), never the session of
 * <rt>: a session pins the worker it was opened to, so after a master-worker reload only a
 * fresh connection reaches the new worker. Pid and Uptime_sec to <*pid>/<*uptime>.
 * HAPROXY_RT_OK, HAPROXY_RT_IO (not reachable: connect refused, no socket, timeout) or
 * HAPROXY_RT_ERROR (an answer that is not `show info`'s), with <err>.
 */
enum haproxy_rt_status haproxy_rt_probe(const struct haproxy_rt *rt, uint64_t *pid,
                                        uint64_t *uptime, char *err, size_t errsz);

/*
 * Pipelined commands: many commands (with payloads) written in a stream on the session while
 * their replies are read, so HAProxy works without waiting for a round trip per command
 * (management.txt §9.3: commands of a prompt-mode session run in order). Each command and its
 * payload must fit tune.bufsize as for haproxy_rt_cmd(); a command that fails does not stop the
 * ones after it, so a caller only queues commands that are harmless after a failure of the
 * ones before (and checks every reply). No lock-retry here: a HAPROXY_RT_LOCKED reply is
 * returned like any other.
 */
struct haproxy_rt_batch {
	struct buf out;    /* the commands, as written */
	size_t n;          /* commands queued */
	size_t *off, *len; /* per command: its reply text in <replies> (after run) */
	size_t cap;
	struct buf replies; /* the reply stream */
};

void haproxy_rt_batch_init(struct haproxy_rt_batch *b);
void haproxy_rt_batch_deinit(struct haproxy_rt_batch *b);
/* Forget the commands and replies; keep the memory. */
void haproxy_rt_batch_reset(struct haproxy_rt_batch *b);
/* Queue "<verb> <arg1>[ <arg2>]" (arguments checked as names or paths by the caller's choice:
 * <arg1> must pass haproxy_rt_path_valid(), <arg2> haproxy_rt_name_valid()) with an optional
 * <payload> (sanitised PEM ending with a newline). The index of the command, or -1 with <err>
 * (invalid argument, too big for tune.bufsize, OOM). */
long haproxy_rt_batch_add(struct haproxy_rt_batch *b, const struct haproxy_rt *rt, const char *verb,
                          const char *arg1, const char *arg2, const struct buf *payload, char *err,
                          size_t errsz);
/* Send every queued command, read every reply. HAPROXY_RT_OK or HAPROXY_RT_IO (session closed:
 * replies not read are lost; the caller looks at HAProxy again) with <err>. */
enum haproxy_rt_status haproxy_rt_batch_run(struct haproxy_rt *rt, struct haproxy_rt_batch *b,
                                            char *err, size_t errsz);
/* Reply text of command <i> (as haproxy_rt_reply_body() gives it). */
const char *haproxy_rt_batch_reply(const struct haproxy_rt_batch *b, size_t i, size_t *len);

/* Helpers: build the command (names and paths are checked), send, classify. The status as
 * haproxy_rt_classify() gives it; <err> says what HAProxy answered when not OK. */
enum haproxy_rt_status haproxy_rt_new_cert(struct haproxy_rt *rt, const char *name, char *err,
                                           size_t errsz);
enum haproxy_rt_status haproxy_rt_set_cert(struct haproxy_rt *rt, const char *name,
                                           const struct buf *pem, char *other, size_t othersz,
                                           char *err, size_t errsz);
enum haproxy_rt_status haproxy_rt_commit_cert(struct haproxy_rt *rt, const char *name, char *err,
                                              size_t errsz);
enum haproxy_rt_status haproxy_rt_abort_cert(struct haproxy_rt *rt, const char *name, char *err,
                                             size_t errsz);
enum haproxy_rt_status haproxy_rt_del_cert(struct haproxy_rt *rt, const char *name, char *err,
                                           size_t errsz);
enum haproxy_rt_status haproxy_rt_add_crtlist(struct haproxy_rt *rt, const char *list,
                                              const char *name, char *err, size_t errsz);
/* <line> > 0 deletes the entry "NAME:<line>"; 0 deletes every entry of <name>. */
enum haproxy_rt_status haproxy_rt_del_crtlist(struct haproxy_rt *rt, const char *list,
                                              const char *name, unsigned line, char *err,
                                              size_t errsz);
enum haproxy_rt_status haproxy_rt_show_certs(struct haproxy_rt *rt, struct strv *certs,
                                             struct strv *txns, char *err, size_t errsz);
enum haproxy_rt_status haproxy_rt_show_crtlist(struct haproxy_rt *rt, const char *list,
                                               struct strv *entries, char *err, size_t errsz);
/* The line number HAProxy gives the first entry of <name> in <list> (`show ssl crt-list -n`):
 * HAPROXY_RT_OK, HAPROXY_RT_NOT_FOUND (no entry), or an error with <err>. */
enum haproxy_rt_status haproxy_rt_crtlist_line(struct haproxy_rt *rt, const char *list,
                                               const char *name, unsigned *line, char *err,
                                               size_t errsz);
enum haproxy_rt_status haproxy_rt_show_cert(struct haproxy_rt *rt, const char *name,
                                            struct haproxy_rt_cert_info *info, char *err,
                                            size_t errsz);
enum haproxy_rt_status haproxy_rt_show_info(struct haproxy_rt *rt, uint64_t *pid, uint64_t *uptime,
                                            char *err, size_t errsz);

#endif
