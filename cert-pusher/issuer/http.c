// SPDX-License-Identifier: MIT
/*
 * HTTPS for the ACME client on one libcurl easy handle per client. The handle is reused so
 * connections and TLS sessions stay warm across the many small requests of an order. Headers
 * are parsed as they arrive (only the last response's headers count: an interim 1xx resets
 * them); bodies stop at a size limit. Nothing here knows about JSON or JWS, nothing logs.
 */
#include "cert-pusher/issuer/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/pmetrics.h"
#include "common/parse.h"

struct http_client {
	CURL *curl;
	struct http_opts opts;
	char *ca_bundle; /* owned copy of opts.ca_bundle */
	char curl_err[CURL_ERROR_SIZE];
};

/* What the callbacks fill during one request. */
struct http_xfer {
	struct http_response *r;
	size_t body_max;
	int too_big;
	int oom;
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* Drop the headers parsed so far (a new status line started: interim 1xx response). */
static void http_response_reset_headers(struct http_response *r)
{
	free(r->nonce);
	free(r->location);
	free(r->content_type);
	free(r->link_up);
	free(r->link_index);
	r->nonce = r->location = r->content_type = r->link_up = r->link_index = NULL;
	r->retry_after = -1;
}

int64_t http_parse_retry_after(const char *v, time_t now)
{
	uint64_t secs;
	time_t t;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		if (parse_u64(v, 0, HTTP_RETRY_AFTER_MAX_S, &secs) < 0) {
			if (v[strspn(v, "0123456789")] != '\0')
				return -1;
			secs = HTTP_RETRY_AFTER_MAX_S; /* digits only, just too many */
		}
	} else {
		t = curl_getdate(v, NULL);
		if (t == (time_t)-1)
			return -1;
		secs = t > now ? (uint64_t)(t - now) : 0;
	}
	if (secs < HTTP_RETRY_AFTER_MIN_S)
		secs = HTTP_RETRY_AFTER_MIN_S;
	if (secs > HTTP_RETRY_AFTER_MAX_S)
		secs = HTTP_RETRY_AFTER_MAX_S;
	return (int64_t)secs;
}

char *http_parse_link(const char *v, const char *rel)
{
	const char *p = v, *lt, *gt, *end, *q;
	size_t rel_len = strlen(rel);

	/* link-value = "<" URI-Reference ">" *( ";" link-param ), comma separated (RFC 8288 §3) */
	while ((lt = strchr(p, '<')) != NULL) {
		gt = strchr(lt, '>');
		if (!gt)
			return NULL;
		end = gt + 1;
		while (*end && *end != ',') {
			if (*end == '"') {
				q = strchr(end + 1, '"');
				if (!q)
					return NULL;
				end = q;
			}
			end++;
		}
		/* look for rel=X or rel="X" among the parameters in [gt+1, end) */
		for (q = gt + 1; q < end; q++) {
			size_t n;

			if (*q != ';')
				continue;
			q++;
			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			if ((size_t)(end - q) < 4 || strncasecmp(q, "rel=", 4) != 0)
				continue;
			q += 4;
			if (q < end && *q == '"')
				q++;
			n = strcspn(q, "\"; ,");
			if (n == rel_len && q + n <= end && !strncasecmp(q, rel, rel_len))
				return strndup(lt + 1, (size_t)(gt - lt - 1));
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

/* A copy of header value [v, v+len) with surrounding blanks and CRLF removed. */
static char *http_header_value(const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ' ||
	               v[len - 1] == '\t'))
		len--;
	return strndup(v, len);
}

static int http_header_is(const char *line, size_t len, const char *name, const char **val,
                          size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return 0;
	*val = line + n + 1;
	*vlen = len - n - 1;
	return 1;
}

static size_t http_on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	struct http_response *r = x->r;
	size_t len = size * nmemb, vlen;
	const char *v;
	char *s = NULL, *p;

	if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
		http_response_reset_headers(r);
		return len;
	}
	if (http_header_is(line, len, "replay-nonce", &v, &vlen)) {
		free(r->nonce);
		r->nonce = s = http_header_value(v, vlen);
	} else if (http_header_is(line, len, "location", &v, &vlen)) {
		free(r->location);
		r->location = s = http_header_value(v, vlen);
	} else if (http_header_is(line, len, "content-type", &v, &vlen)) {
		free(r->content_type);
		r->content_type = s = http_header_value(v, vlen);
		if (s) {
			s[strcspn(s, "; \t")] = 0;
			for (p = s; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		}
	} else if (http_header_is(line, len, "retry-after", &v, &vlen)) {
		s = http_header_value(v, vlen);
		if (s) {
			r->retry_after = http_parse_retry_after(s, time(NULL));
			free(s);
		}
		return len;
	} else if (http_header_is(line, len, "link", &v, &vlen)) {
		s = http_header_value(v, vlen);
		if (s) {
			if (!r->link_up)
				r->link_up = http_parse_link(s, "up");
			if (!r->link_index)
				r->link_index = http_parse_link(s, "index");
			free(s);
		}
		return len;
	} else {
		return len;
	}
	if (!s)
		x->oom = 1;
	return len;
}

static size_t http_on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	size_t len = size * nmemb;

	if (len > x->body_max || x->r->body.len > x->body_max - len) {
		x->too_big = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (buf_append(&x->r->body, p, len) < 0) {
		x->oom = 1;
		return 0;
	}
	return len;
}

struct http_client *http_client_new(const struct http_opts *opts, char *err, size_t errsz)
{
	struct http_client *c = calloc(1, sizeof(*c));
	FILE *f;

	if (!c) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	c->opts = *opts;
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = 10000;
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = 30000;
	if (!c->opts.body_max)
		c->opts.body_max = HTTP_BODY_MAX_DEFAULT;
	if (opts->ca_bundle) {
		f = fopen(opts->ca_bundle, "r");
		if (!f) {
			snprintf(err, errsz, "--ca-bundle: cannot read '%s': %m", opts->ca_bundle);
			goto fail;
		}
		fclose(f);
		c->ca_bundle = strdup(opts->ca_bundle);
		if (!c->ca_bundle) {
			snprintf(err, errsz, "out of memory");
			goto fail;
		}
	}
	c->opts.ca_bundle = c->ca_bundle;
	c->curl = curl_easy_init();
	if (!c->curl) {
		snprintf(err, errsz, "curl_easy_init failed");
		goto fail;
	}
	return c;
fail:
	http_client_free(c);
	return NULL;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->ca_bundle);
	free(c);
}

int http_request(struct http_client *c, enum http_method method, const char *url,
                 const uint8_t *body, size_t body_len, struct http_response *r, char *err,
                 size_t errsz)
{
	struct curl_slist *hdrs = NULL, *h;
	struct http_xfer x = { .r = r, .body_max = c->opts.body_max };
	CURL *k = c->curl;
	CURLcode cc;
	int ret = -1;

	http_response_deinit(r);
	curl_easy_reset(k);
	c->curl_err[0] = 0;
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, c->opts.allow_http ? "https,http" : "https");
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
	curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, c->opts.timeout_ms);
	curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(k, CURLOPT_USERAGENT, "spoacme-cert-pusher/0.1");
	curl_easy_setopt(k, CURLOPT_ERRORBUFFER, c->curl_err);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(k, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->opts.body_max);
	if (c->ca_bundle)
		curl_easy_setopt(k, CURLOPT_CAINFO, c->ca_bundle);
	switch (method) {
	case HTTP_METHOD_HEAD:
		curl_easy_setopt(k, CURLOPT_NOBODY, 1L);
		break;
	case HTTP_METHOD_POST:
		h = curl_slist_append(hdrs, "Content-Type: application/jose+json");
		if (!h) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
		hdrs = h;
		h = curl_slist_append(hdrs, "Expect:");
		if (!h) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
		hdrs = h;
		curl_easy_setopt(k, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(k, CURLOPT_POST, 1L);
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
		curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		break;
	default:
		curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
		break;
	}
	cc = curl_easy_perform(k);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &r->status);
		pmetrics_acme_response(r->status);
	} else {
		pmetrics_acme_response(0);
	}
	if (x.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errsz, "%s: response body larger than %zu bytes", url, x.body_max);
		goto out;
	}
	if (x.oom) {
		snprintf(err, errsz, "%s: out of memory", url);
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errsz, "%s: %s", url,
		         c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
		goto out;
	}
	ret = 0;
out:
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return ret;
}
