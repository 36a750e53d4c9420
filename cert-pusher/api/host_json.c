// SPDX-License-Identifier: MIT
/*
 * The JSON of hosts and edges shared by the API and the CLI's --json (host_json.h).
 */
#include "cert-pusher/api/host_json.h"

#include <stdio.h>

/* One edge's own attributes. New reference or NULL. */
static json_t *host_json_edge(const struct served_edge *e)
{
	const struct served_haproxy *hp = &e->haproxy;

	return json_pack("{s:s,s:o,s:b,s:s,s:o}", "edge", e->id, "last_seen",
	                 host_json_time(e->last_seen), "live", e->live, "haproxy",
	                 *hp->state ? hp->state : "unknown", "haproxy_since",
	                 hp->since ? host_json_time(hp->since) : json_null());
}

json_t *host_json_edge_list(const struct served_view *v)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < v->nedges; i++)
		json_array_append_new(arr, host_json_edge(&v->edges[i]));
	return arr;
}

/* A JSON string for time <t>, or null. New reference. */
json_t *host_json_time(long long t)
{
	char s[32];

	hosts_time_format(t, s, sizeof(s));
	return *s ? json_string(s) : json_null();
}

static json_t *host_json_str(const char *s)
{
	return *s ? json_string(s) : json_null();
}

/* The JSON:API resource object of <h>. New reference or NULL. */
json_t *host_json(const struct hosts_info *h)
{
	json_t *attrs, *obj, *links;
	char self[sizeof(API_PREFIX) + NAMES_HOSTNAME_MAX + 2];

	snprintf(self, sizeof(self), API_PREFIX "/%s", h->name);
	attrs = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o},s:o,s:I,s:b}", "hostname",
	                  h->name, "state", hosts_state_name(h->state), "created_at",
	                  host_json_time(h->created), "not_before", host_json_time(h->not_before),
	                  "not_after", host_json_time(h->not_after), "issued_at",
	                  host_json_time(h->issued_at), "renew_at", host_json_time(h->renew_at),
	                  "next_attempt_at", host_json_time(h->next_attempt), "serials", "ecdsa",
	                  host_json_str(h->serial_ecdsa), "rsa", host_json_str(h->serial_rsa),
	                  "last_error", host_json_str(h->last_error), "attempts",
	                  (json_int_t)h->attempts, "order_running", h->order_running);
	if (!attrs)
		return NULL;
	if (*h->preview)
		json_object_set_new(attrs, "preview_hostname", json_string(h->preview));
	if (*h->dns_status)
		json_object_set_new(attrs, "dns_status", json_string(h->dns_status));
	json_object_set_new(attrs, "origin", json_string(*h->origin ? h->origin : "api"));
	json_object_set_new(attrs, "next_action_at", host_json_time(h->next_action));
	links = json_pack("{s:s}", "self", self);
	obj = json_pack("{s:s,s:s,s:o,s:o}", "id", h->name, "type", "hostnames", "attributes",
	                attrs, "links", links);
	return obj;
}

/* Proof of deployment of host <h> (index <hi> of <v>): attributes "deployed" and "edges", one
 * object per edge (newest heartbeat first) with what it serves per key type. <v> NULL (Redis
 * could not be read): both null. */
void host_json_edges(json_t *obj, const struct served_view *v, size_t hi,
                     const struct hosts_info *h, long long now)
{
	const char *want[PEM_KEY_COUNT] = { h->serial_ecdsa, h->serial_rsa };
	json_t *attrs = json_object_get(obj, "attributes"), *edges, *e, *tv;
	const struct served_value *sv;
	size_t i;
	int t, current;

	if (!attrs)
		return;
	if (!v) {
		json_object_set_new(attrs, "deployed", json_null());
		json_object_set_new(attrs, "edges", json_null());
		return;
	}
	edges = json_array();
	for (i = 0; edges && i < v->nedges; i++) {
		e = host_json_edge(&v->edges[i]);
		if (!e)
			continue;
		current = 1;
		for (t = 0; t < PEM_KEY_COUNT; t++) {
			enum served_status st;

			sv = served_view_get(v, hi, i, t);
			st = served_classify(want[t], sv);
			if (*want[t] && st != SERVED_CURRENT)
				current = 0;
			tv = sv ? json_pack("{s:s,s:o,s:o,s:s,s:b}", "serial", sv->serial,
			                    "not_after", host_json_time(sv->not_after), "since",
			                    host_json_time(sv->at), "status",
			                    served_status_name(st), "expiring",
			                    served_expiring(sv, now))
			        : json_null();
			json_object_set_new(e, pem_key_type_names[t], tv);
		}
		json_object_set_new(e, "current", json_boolean(current && (*want[0] || *want[1])));
		json_array_append_new(edges, e);
	}
	json_object_set_new(attrs, "deployed", json_boolean(served_view_deployed(v, hi, want)));
	json_object_set_new(attrs, "edges", edges ? edges : json_null());
}
