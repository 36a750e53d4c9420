// SPDX-License-Identifier: MIT
/*
 * A small ordered name/value store for cert-pusher's options and the config file parser.
 * Validation of values belongs to the commands that use them.
 */
#include "cert-pusher/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/file.h"

struct conf_item {
	char *name;
	char *value;
	int from_flag;
	struct conf_item *next;
};

struct conf {
	struct conf_item *head;
};

struct conf *conf_new(void)
{
	return calloc(1, sizeof(struct conf));
}

void conf_free(struct conf *c)
{
	struct conf_item *it, *next;

	if (!c)
		return;
	for (it = c->head; it; it = next) {
		next = it->next;
		free(it->name);
		free(it->value);
		free(it);
	}
	free(c);
}

static struct conf_item *conf_find(const struct conf *c, const char *name)
{
	struct conf_item *it;

	for (it = c->head; it; it = it->next)
		if (!strcmp(it->name, name))
			return it;
	return NULL;
}

int conf_set(struct conf *c, const char *name, const char *value, int from_flag)
{
	struct conf_item *it = conf_find(c, name);
	char *v;

	if (it && it->from_flag && !from_flag)
		return 0;
	v = strdup(value);
	if (!v)
		return -1;
	if (!it) {
		it = calloc(1, sizeof(*it));
		if (!it || !(it->name = strdup(name))) {
			free(it);
			free(v);
			return -1;
		}
		it->next = c->head;
		c->head = it;
	}
	free(it->value);
	it->value = v;
	it->from_flag = from_flag;
	return 0;
}

const char *conf_get(const struct conf *c, const char *name)
{
	struct conf_item *it = conf_find(c, name);

	return it ? it->value : NULL;
}

const char *conf_get_def(const struct conf *c, const char *name, const char *def)
{
	const char *v = conf_get(c, name);

	return v ? v : def;
}

static int conf_known(const char *const *known, const char *name)
{
	for (; *known; known++)
		if (!strcmp(*known, name))
			return 1;
	return 0;
}

int conf_load_file(struct conf *c, const char *path, const char *const *known, char *err,
                   size_t errsz)
{
	struct buf text;
	char *cursor, *line, *name, *value;
	unsigned lineno = 0;
	int ret = -1;

	buf_init(&text);
	if (file_read(path, 1 << 20, 0, &text, err, errsz) < 0)
		goto out;
	if (memchr(text.data ? text.data : (const uint8_t *)"", 0, text.len)) {
		snprintf(err, errsz, "%s: contains a NUL byte", path);
		goto out;
	}
	cursor = (char *)text.data;
	while ((line = file_next_line(&cursor, &lineno))) {
		name = line;
		value = line + strcspn(line, " \t");
		if (*value) {
			*value++ = 0;
			while (*value == ' ' || *value == '\t')
				value++;
		}
		if (!conf_known(known, name)) {
			snprintf(err, errsz, "%s: line %u: unknown option '%s'", path, lineno,
			         name);
			goto out;
		}
		if (conf_set(c, name, *value ? value : "true", 0) < 0) {
			snprintf(err, errsz, "%s: out of memory", path);
			goto out;
		}
	}
	ret = 0;
out:
	buf_wipe(&text);
	return ret;
}
