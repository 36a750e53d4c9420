/* SPDX-License-Identifier: MIT */
/*
 * A growable list of owned NUL-terminated strings: Redis members and field/value pairs, HAProxy's
 * certificate and crt-list listings. A zeroed struct is an empty list.
 */
#ifndef COMMON_STRV_H
#define COMMON_STRV_H

#include <stddef.h>

struct strv {
	char **v;
	size_t n;
	size_t cap;
};

void strv_init(struct strv *sv);
/* Free every string and the array; <sv> is empty again. NULL is accepted. */
void strv_deinit(struct strv *sv);
/* Append a copy of <p>/<len> (NUL-terminated in the copy). 0 or -1 (out of memory). */
int strv_push(struct strv *sv, const char *p, size_t len);
/* Number of entries equal to <s> (a scan). */
size_t strv_count(const struct strv *sv, const char *s);
/* Sort in strcmp() order, then: entries equal to <s> (binary search), and whether any is. */
void strv_sort(struct strv *sv);
size_t strv_sorted_count(const struct strv *sv, const char *s);
int strv_sorted_has(const struct strv *sv, const char *s);
/* The index of an entry equal to <s>, or sv->n when there is none. */
size_t strv_sorted_index(const struct strv *sv, const char *s);

#endif
