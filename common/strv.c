// SPDX-License-Identifier: MIT
#include "common/strv.h"

#include <stdlib.h>
#include <string.h>

void strv_init(struct strv *sv)
{
	sv->v = NULL;
	sv->n = 0;
	sv->cap = 0;
}

void strv_deinit(struct strv *sv)
{
	size_t i;

	if (!sv)
		return;
	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	strv_init(sv);
}

int strv_push(struct strv *sv, const char *p, size_t len)
{
	char **nv, *c;

	if (sv->n == sv->cap) {
		size_t ncap = sv->cap ? 2 * sv->cap : 16;

		nv = realloc(sv->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		sv->v = nv;
		sv->cap = ncap;
	}
	c = malloc(len + 1);
	if (!c)
		return -1;
	memcpy(c, p, len);
	c[len] = 0;
	sv->v[sv->n++] = c;
	return 0;
}

size_t strv_count(const struct strv *sv, const char *s)
{
	size_t i, n = 0;

	for (i = 0; i < sv->n; i++)
		n += !strcmp(sv->v[i], s);
	return n;
}

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(struct strv *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof(*sv->v), strv_cmp);
}

size_t strv_sorted_count(const struct strv *sv, const char *s)
{
	char **at = sv->n ? bsearch(&s, sv->v, sv->n, sizeof(*sv->v), strv_cmp) : NULL;
	size_t i, n = 0;

	if (!at)
		return 0;
	for (i = (size_t)(at - sv->v); i > 0 && !strcmp(sv->v[i - 1], s); i--)
		;
	for (; i < sv->n && !strcmp(sv->v[i], s); i++)
		n++;
	return n;
}

int strv_sorted_has(const struct strv *sv, const char *s)
{
	return sv->n && bsearch(&s, sv->v, sv->n, sizeof(*sv->v), strv_cmp);
}

size_t strv_sorted_index(const struct strv *sv, const char *s)
{
	char **at = sv->n ? bsearch(&s, sv->v, sv->n, sizeof(*sv->v), strv_cmp) : NULL;

	return at ? (size_t)(at - sv->v) : sv->n;
}
