/* SPDX-License-Identifier: MIT */
/*
 * The JSON of a host and of the edges, as the API answers it (GET /v1/hostnames[/<name>]) and
 * as the CLI prints it with --json (ls, show, edges ls): one encoder, so both say the same.
 */
#ifndef CERT_PUSHER_HOST_JSON_H
#define CERT_PUSHER_HOST_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "cert-pusher/edge/served.h"
#include "cert-pusher/hosts.h"

#define API_PREFIX "/v1/hostnames"

/* An RFC 3339 UTC string for unix time <t>, or null when 0. New reference. */
json_t *host_json_time(long long t);

/* The JSON:API resource object of <h> ("id", "type", "attributes", "links"). New reference or
 * NULL. */
json_t *host_json(const struct hosts_info *h);

/* Proof of deployment of host <h> (index <hi> of <v>) into <obj>'s attributes: "deployed" and
 * "edges", one object per edge (newest heartbeat first) with what it serves per key type. <v>
 * NULL (Redis could not be read): both null. */
void host_json_edges(json_t *obj, const struct served_view *v, size_t hi,
                     const struct hosts_info *h, long long now);

/* The edges of <v> as an array of {"edge","last_seen","live","haproxy","haproxy_since"}. New
 * reference or NULL. */
json_t *host_json_edge_list(const struct served_view *v);

#endif
