// SPDX-License-Identifier: MIT
/*
 * struct http_response's life cycle, apart from http.c's libcurl client so that tests that
 * replace the client with a scripted CA (they define the http_client_* and http_request
 * functions, which keeps http.o out of the link) use these as they are.
 */
#include "cert-pusher/issuer/http.h"

#include <stdlib.h>
#include <string.h>

void http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body);
	r->retry_after = -1;
}

void http_response_deinit(struct http_response *r)
{
	buf_deinit(&r->body);
	free(r->nonce);
	free(r->location);
	free(r->content_type);
	free(r->link_up);
	free(r->link_index);
	http_response_init(r);
}
