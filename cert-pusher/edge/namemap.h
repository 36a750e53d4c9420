/* SPDX-License-Identifier: MIT */
/*
 * The map of names this edge holds, for HAProxy's on-demand pre-frontend (haproxy-cfg,
 * SPOACME_ON_DEMAND, SPOACME_NAMES_MAP): a ClientHello whose server name (or "*." and its
 * parent, for a wildcard certificate) is in the map never reaches the agent. Two copies are kept
 * equal to what the loader says it holds:
 *  - the file <cert-dir>/names.map, one "<name> 1" line per name, rewritten (write + rename)
 *    when the crt-list file is, so that a new worker (reload, restart) loads both at start;
 *  - the running worker's map, through the runtime API (`add map`, `del map`): its contents
 *    are read once per worker (`show map`) and then changed by difference. A worker whose
 *    configuration does not load the map (on-demand off) is left alone.
 * Which names are held is loader.c's to say; this module writes, diffs and sends. Every name is
 * checked again here before it reaches a file or a runtime command.
 */
#ifndef CERT_PUSHER_EDGE_NAMEMAP_H
#define CERT_PUSHER_EDGE_NAMEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/strv.h"

struct haproxy_rt;

#define NAMEMAP_FILE "names.map"

struct namemap {
	char *path;       /* <cert-dir>/names.map, as haproxy.cfg names it */
	struct strv file; /* sorted, unique: what the file holds */
	int file_known;   /* <file> is what is on disk */
	struct strv live; /* sorted, unique: what worker <pid>'s map holds */
	uint64_t pid;     /* worker <live> is for; 0: none read yet */
	int live_known;   /* <live> was read from worker <pid> */
	int absent;       /* worker <pid> does not load the map */
	int logged;       /* a runtime failure was logged since the last success */
};

/* Prepare <nm> for <cert_dir>/names.map. 0 or -1 with <err>. */
int namemap_init(struct namemap *nm, const char *cert_dir, char *err, size_t errsz);
void namemap_deinit(struct namemap *nm);

/* Whether <name> may go into the map: a lowercase hostname, or "*." and one. */
int namemap_name_valid(const char *name);

/* Sort <names> and drop duplicates and names namemap_name_valid() refuses (logged). */
void namemap_normalize(struct strv *names);

/* The keys of a `show map <file>` reply <body> ("0x55d0c8 key value" per line) into <out>
 * (sorted, unique). 0, or -1 on a line of another shape (or OOM). */
int namemap_parse_show(const char *body, size_t len, struct strv *out);

/* Whether a `show map` reply <body> (the list of maps) names file <path>. */
int namemap_show_has(const char *body, size_t len, const char *path);

/* Rewrite the file to <names> (normalized) when it differs. 0 or -1 (logged). */
int namemap_write(struct namemap *nm, const struct strv *names);

/* Make worker <pid>'s map (HAProxy reached through <rt>'s session) hold exactly <names>
 * (normalized). 0 (done, or the worker does not load the map), -1 (logged once; the next call
 * reads the map again). */
int namemap_sync(struct namemap *nm, struct haproxy_rt *rt, uint64_t pid, const struct strv *names);

#endif
