// SPDX-License-Identifier: MIT
/*
 * Proof of deployment: the served:<edge> value encoding (JSON through jansson), the status of
 * an edge's certificate against a host's current serial, and the view the API, the CLI and the
 * metrics read (edges x hosts x key types, two pipelined round trips through store.c).
 */
#include "cert-pusher/edge/served.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/names.h"
#include "common/parse.h"

#define SERVED_VALUE_MAX 512 /* bytes of a value we accept */

int served_edge_valid(const char *id)
{
	return names_id_valid(id, strlen(id), SERVED_EDGE_MAX);
}

int served_field(struct buf *out, const char *host, const char *type)
{
	return buf_printf(out, "%s:%s", host, type);
}

/* Whether <s> is 1..PEM_SERIAL_MAX hex digits. */
static int served_serial_valid(const char *s)
{
	size_t i, len = strlen(s);

	if (len < 1 || len > PEM_SERIAL_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

int served_value_format(const struct served_value *v, struct buf *out)
{
	if (!served_serial_valid(v->serial))
		return -1;
	return buf_printf(out,
	                  "{\"serial\":\"%s\",\"not_before\":%lld,\"not_after\":%lld,\"at\":%lld}",
	                  v->serial, v->not_before, v->not_after, v->at);
}

/* Member <name> of <o> as a non-negative integer into <*out>: 0, or -1 when present and not
 * such an integer (absent: 0 into <*out>). */
static int served_json_time(json_t *o, const char *name, long long *out)
{
	json_t *j = json_object_get(o, name);

	*out = 0;
	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -1;
	*out = (long long)json_integer_value(j);
	return 0;
}

int served_value_parse(const char *s, size_t len, struct served_value *v)
{
	json_t *root = NULL, *serial;
	int ret = -1;

	memset(v, 0, sizeof(*v));
	if (len == 0 || len > SERVED_VALUE_MAX)
		goto out;
	root = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	serial = json_object_get(root, "serial");
	if (!json_is_string(serial) ||
	    strlen(json_string_value(serial)) != json_string_length(serial) ||
	    !served_serial_valid(json_string_value(serial)))
		goto out;
	snprintf(v->serial, sizeof(v->serial), "%s", json_string_value(serial));
	if (served_json_time(root, "not_before", &v->not_before) < 0 ||
	    served_json_time(root, "not_after", &v->not_after) < 0 ||
	    served_json_time(root, "at", &v->at) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		memset(v, 0, sizeof(*v));
	json_decref(root);
	return ret;
}

static const char *const served_hp_states[] = { "up", "syncing", "down" };

int served_haproxy_format(const struct served_haproxy *h, struct buf *out)
{
	size_t i;

	for (i = 0; i < sizeof(served_hp_states) / sizeof(*served_hp_states); i++)
		if (!strcmp(h->state, served_hp_states[i]))
			return buf_printf(out, "{\"state\":\"%s\",\"pid\":%lld,\"since\":%lld}",
			                  h->state, h->pid < 0 ? 0 : h->pid,
			                  h->since < 0 ? 0 : h->since);
	return -1;
}

int served_haproxy_parse(const char *s, size_t len, struct served_haproxy *h)
{
	json_t *root = NULL, *state;
	size_t i;
	int ret = -1;

	memset(h, 0, sizeof(*h));
	if (len == 0 || len > SERVED_VALUE_MAX)
		goto out;
	root = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	state = json_object_get(root, "state");
	if (!json_is_object(root) || !json_is_string(state))
		goto out;
	for (i = 0; i < sizeof(served_hp_states) / sizeof(*served_hp_states); i++)
		if (!strcmp(json_string_value(state), served_hp_states[i]))
			break;
	if (i == sizeof(served_hp_states) / sizeof(*served_hp_states) ||
	    served_json_time(root, "pid", &h->pid) < 0 ||
	    served_json_time(root, "since", &h->since) < 0)
		goto out;
	snprintf(h->state, sizeof(h->state), "%s", served_hp_states[i]);
	ret = 0;
out:
	if (ret < 0)
		memset(h, 0, sizeof(*h));
	json_decref(root);
	return ret;
}

int served_edge_haproxy_down(const struct served_edge *e)
{
	return !strcmp(e->haproxy.state, "down");
}

static int served_hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int served_serial_eq(const char *a, const char *b)
{
	size_t la, lb;

	if (!served_serial_valid(a) || !served_serial_valid(b))
		return 0;
	while (a[0] == '0' && a[1])
		a++;
	while (b[0] == '0' && b[1])
		b++;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return 0;
	for (; *a; a++, b++)
		if (served_hex_val(*a) != served_hex_val(*b))
			return 0;
	return 1;
}

enum served_status served_classify(const char *want, const struct served_value *v)
{
	if (!v)
		return SERVED_MISSING;
	return want && served_serial_eq(want, v->serial) ? SERVED_CURRENT : SERVED_STALE;
}

const char *served_status_name(enum served_status st)
{
	static const char *const names[SERVED_STATUS_COUNT] = {
		[SERVED_MISSING] = "missing",
		[SERVED_CURRENT] = "current",
		[SERVED_STALE] = "stale",
	};

	return (unsigned)st < SERVED_STATUS_COUNT ? names[st] : "unknown";
}

int served_expiring(const struct served_value *v, long long now)
{
	long long margin = SERVED_EXPIRING_MAX_S;

	if (!v->not_after)
		return 0;
	if (v->not_before && v->not_after > v->not_before &&
	    (v->not_after - v->not_before) / 3 < margin)
		margin = (v->not_after - v->not_before) / 3;
	return v->not_after - now <= margin;
}

int served_edge_live(long long last_seen, long long now, long long window_s)
{
	return last_seen > 0 && now - last_seen <= window_s;
}

int served_live_window(const char *s, long long *secs)
{
	uint64_t ms;

	if (parse_duration_ms(s ? s : SERVED_LIVE_WINDOW_DEF, 1000, 1000, 24ull * 3600 * 1000,
	                      &ms) < 0)
		return -1;
	*secs = (long long)(ms / 1000);
	return 0;
}

/* ---- the view ---- */

void served_view_free(struct served_view *v)
{
	free(v->edges);
	free(v->vals);
	free(v->present);
	memset(v, 0, sizeof(*v));
}

int served_view_load(struct store *s, const char *const *hosts, size_t nhosts, long long now,
                     long long window_s, struct served_view *v, char *err, size_t errsz)
{
	struct strv raw = { 0 }, vals = { 0 };
	struct strv ids = { 0 }; /* borrows raw's strings */
	struct buf f;
	char **fields = NULL;
	size_t i, e, h, t, nf = 1 + nhosts * PEM_KEY_COUNT, idx; /* "haproxy", then the hosts */
	uint64_t score;
	int ret = -1;

	long long forget_s = window_s * 30 > SERVED_FORGET_S ? window_s * 30 : SERVED_FORGET_S;

	memset(v, 0, sizeof(*v));
	buf_init(&f);
	v->nhosts = nhosts;
	if (store_served_edges(s, SERVED_EDGES_MAX, &raw, err, errsz) < 0)
		goto out;
	v->edges = calloc(raw.n / 2 + 1, sizeof(*v->edges));
	ids.v = calloc(raw.n / 2 + 1, sizeof(*ids.v));
	if (!v->edges || !ids.v)
		goto oom;
	for (i = 0; i + 1 < raw.n; i += 2) {
		struct served_edge *ed = &v->edges[v->nedges];

		/* Ids are validated by the loaders; skip anything else so it never reaches a
		 * label or a table. Scores are integers of our own, "1.7e9" is not. */
		if (!served_edge_valid(raw.v[i]) ||
		    parse_u64(raw.v[i + 1], 0, (uint64_t)1 << 53, &score) < 0)
			continue;
		/* Edges gone for a day (or 30 live windows) are left out: each edge listed costs
		 * an HMGET of every host at every GET and scrape. */
		if ((long long)score < now - forget_s)
			continue;
		snprintf(ed->id, sizeof(ed->id), "%s", raw.v[i]);
		ed->last_seen = (long long)score;
		ed->live = served_edge_live(ed->last_seen, now, window_s);
		ids.v[ids.n++] = raw.v[i];
		v->nedges++;
	}
	v->vals = calloc(nf * v->nedges + 1, sizeof(*v->vals));
	v->present = calloc(nf * v->nedges + 1, 1);
	fields = calloc(nf + 1, sizeof(*fields));
	if (!v->vals || !v->present || !fields)
		goto oom;
	for (h = 0; h < nhosts; h++) {
		for (t = 0; t < PEM_KEY_COUNT; t++) {
			buf_reset(&f);
			if (served_field(&f, hosts[h], pem_key_type_names[t]) < 0 ||
			    !(fields[1 + h * PEM_KEY_COUNT + t] = strdup(buf_str(&f))))
				goto oom;
		}
	}
	if (!(fields[0] = strdup("haproxy")))
		goto oom;
	if (v->nedges &&
	    store_served_fields(s, &ids, (const char *const *)fields, nf, &vals, err, errsz) < 0)
		goto out;
	for (e = 0; e < v->nedges && vals.n == v->nedges * nf; e++) {
		const char *hp = vals.v[e * nf];

		if (*hp)
			(void)served_haproxy_parse(hp, strlen(hp), &v->edges[e].haproxy);
		for (h = 0; h < nhosts; h++) {
			for (t = 0; t < PEM_KEY_COUNT; t++) {
				const char *raw_v = vals.v[e * nf + 1 + h * PEM_KEY_COUNT + t];

				idx = (h * v->nedges + e) * PEM_KEY_COUNT + t;
				if (*raw_v &&
				    served_value_parse(raw_v, strlen(raw_v), &v->vals[idx]) == 0)
					v->present[idx] = 1;
			}
		}
	}
	ret = 0;
	goto out;
oom:
	snprintf(err, errsz, "out of memory");
out:
	if (fields)
		for (i = 0; i < nf; i++)
			free(fields[i]);
	free(fields);
	buf_deinit(&f);
	strv_deinit(&raw);
	free(ids.v);
	strv_deinit(&vals);
	if (ret < 0)
		served_view_free(v);
	return ret;
}

const struct served_value *served_view_get(const struct served_view *v, size_t h, size_t e, int t)
{
	size_t idx;

	if (h >= v->nhosts || e >= v->nedges || t < 0 || t >= PEM_KEY_COUNT)
		return NULL;
	idx = (h * v->nedges + e) * PEM_KEY_COUNT + (size_t)t;
	return v->present[idx] ? &v->vals[idx] : NULL;
}

int served_view_deployed(const struct served_view *v, size_t h, const char *const *want)
{
	size_t e;
	int t, live = 0, types = 0;

	for (t = 0; t < PEM_KEY_COUNT; t++)
		types += want[t] && *want[t];
	if (!types)
		return 0; /* nothing issued yet: nothing to deploy */
	for (e = 0; e < v->nedges; e++) {
		if (!v->edges[e].live)
			continue;
		/* A live edge whose HAProxy is down serves nothing, fallback or not. */
		if (served_edge_haproxy_down(&v->edges[e]))
			return 0;
		live++;
		for (t = 0; t < PEM_KEY_COUNT; t++)
			if (want[t] && *want[t] &&
			    served_classify(want[t], served_view_get(v, h, e, t)) != SERVED_CURRENT)
				return 0;
	}
	return live > 0;
}
