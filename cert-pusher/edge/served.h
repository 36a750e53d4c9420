/* SPDX-License-Identifier: MIT */
/*
 * Proof of deployment (DESIGN.md "Redis layout", served:<edge>): what each edge's HAProxy
 * serves, as its loader reported it to the Redis primary, and what that means for a host.
 *
 *   <prefix>edges            zset   edge id -> unix time of its loader's last heartbeat
 *   <prefix>served:<edge>    hash   "<hostname>:<ecdsa|rsa>" -> value
 *
 * A value is compact JSON: {"serial":"<uppercase hex>","not_before":N,"not_after":N,"at":N}
 * (unix seconds; "at" is when this edge started serving that certificate). Readers accept
 * unknown members and ignore them, so fields can be added later. The field "haproxy" (no ':',
 * so never a host's) is the edge's HAProxy as its loader last saw it, written at once when it
 * changes: {"state":"up|syncing|down","pid":N,"since":N} ("syncing": a new worker that the
 * loader is verifying after a reload or restart).
 *
 * An edge is live when its heartbeat is at most --edge-live-window old (default 2m). For a host
 * whose hash names a serial per key type, an edge's certificate of that type is "current" (the
 * same serial), "stale" (another serial), or "missing"; "expiring" when its notAfter is closer
 * than min(7 days, a third of its lifetime). A host is "deployed" when at least one edge is live
 * and every live edge serves the current serial for every key type the host has a serial for,
 * with its HAProxy not down.
 * This module holds that logic (no I/O but served_view_load(), which reads through store.c).
 */
#ifndef CERT_PUSHER_SERVED_H
#define CERT_PUSHER_SERVED_H

#include <stddef.h>

#include "cert-pusher/pem.h"
#include "cert-pusher/store/store.h"
#include "common/buf.h"

#define SERVED_EDGE_MAX        64    /* bytes of an edge id: [A-Za-z0-9._-]{1,64} */
#define SERVED_EDGES_MAX       256   /* edges read by the API and the metrics (newest first) */
#define SERVED_FORGET_S        86400 /* edges silent longer (and 30 windows) are not listed */
#define SERVED_LIVE_WINDOW_DEF "2m"
#define SERVED_EXPIRING_MAX_S  (7 * 24 * 3600)

/* One certificate an edge reported. */
struct served_value {
	char serial[PEM_SERIAL_MAX + 1]; /* uppercase hex, as pem.c prints it */
	long long not_before, not_after; /* unix seconds; 0 when unknown */
	long long at;                    /* unix seconds the edge started serving it */
};

/* An edge's HAProxy, as its loader reported it (field "haproxy"). */
struct served_haproxy {
	char state[16]; /* "up", "syncing", "down"; "" when never reported */
	long long pid;
	long long since; /* unix seconds of the last change */
};

/* Append the JSON encoding of <h> to <out>. 0 or -1 (OOM, or a state that is not one of the
 * three). */
int served_haproxy_format(const struct served_haproxy *h, struct buf *out);
/* Parse <s>/<len> into <h>. 0 or -1 (then <h> is zeroed). */
int served_haproxy_parse(const char *s, size_t len, struct served_haproxy *h);

enum served_status {
	SERVED_MISSING = 0, /* the edge reported nothing for this host and key type */
	SERVED_CURRENT,     /* the edge serves the host's current serial */
	SERVED_STALE,       /* the edge serves another serial */
	SERVED_STATUS_COUNT
};

/* Whether <id> is a usable edge id: 1..SERVED_EDGE_MAX of [A-Za-z0-9._-]. */
int served_edge_valid(const char *id);

/* The hash field of <host>/<type>: "<host>:<type>" appended to <out>. 0 or -1 (OOM). */
int served_field(struct buf *out, const char *host, const char *type);

/* Append the JSON encoding of <v> to <out>. 0 or -1 (OOM, or a serial that is not hex). */
int served_value_format(const struct served_value *v, struct buf *out);

/* Parse value <s>/<len> into <v>. 0, or -1 when it is not such an object (wrong types, a serial
 * that is not 1..PEM_SERIAL_MAX hex digits, negative times, too long). */
int served_value_parse(const char *s, size_t len, struct served_value *v);

/* Whether two serials name the same number: hex, case and leading zeros ignored. */
int served_serial_eq(const char *a, const char *b);

/* <v> (NULL: nothing reported) against the host's current serial <want> ("" unknown). */
enum served_status served_classify(const char *want, const struct served_value *v);
const char *served_status_name(enum served_status st);

/* Whether <v> expires within min(SERVED_EXPIRING_MAX_S, a third of its lifetime) of <now>
 * (already expired included). */
int served_expiring(const struct served_value *v, long long now);

/* Whether an edge last seen at <last_seen> is live at <now> with a window of <window_s>. */
int served_edge_live(long long last_seen, long long now, long long window_s);

/* ---- the view the API, the CLI and the metrics read ---- */

struct served_edge {
	char id[SERVED_EDGE_MAX + 1];
	long long last_seen;
	int live;
	struct served_haproxy haproxy; /* state "" when the edge never said */
};

/* Whether edge <e>'s HAProxy is reported down (live or not). */
int served_edge_haproxy_down(const struct served_edge *e);

/* Edges (newest heartbeat first) x hosts x key types, read in two round trips. */
struct served_view {
	struct served_edge *edges;
	size_t nedges;
	size_t nhosts;
	struct served_value *vals; /* [(host * nedges + edge) * PEM_KEY_COUNT + type] */
	unsigned char *present;    /* same index: 1 when the edge reported it */
};

/*
 * Read the edges zset (at most SERVED_EDGES_MAX, newest first; ids that fail
 * served_edge_valid(), and edges silent for more than SERVED_FORGET_S and 30 × <window_s>, are
 * skipped) and, for each edge, its "haproxy" field and the fields of the <nhosts> hosts
 * <hosts> (pipelined HMGETs). Values that do not parse count as missing. 0 or -1 with <err>.
 */
int served_view_load(struct store *s, const char *const *hosts, size_t nhosts, long long now,
                     long long window_s, struct served_view *v, char *err, size_t errsz);
void served_view_free(struct served_view *v);

/* What edge <e> reported for host <h> and key type <t>, or NULL. */
const struct served_value *served_view_get(const struct served_view *v, size_t h, size_t e, int t);

/* Whether host <h>, whose current serials per key type are <want> (index enum pem_key_type;
 * "" for a type it has none of), is deployed: see the top of this file. */
int served_view_deployed(const struct served_view *v, size_t h, const char *const *want);

/* Parse --edge-live-window <s> (default SERVED_LIVE_WINDOW_DEF when NULL) into seconds,
 * 1s..1d. 0 or -1. */
int served_live_window(const char *s, long long *secs);

#endif
