/* SPDX-License-Identifier: MIT */
/*
 * cert-pusher's configuration: named string options from a config file ("name value" lines,
 * '#' comments, names as the long flags without "--") and from the command line; flags win.
 * Commands read what they need with conf_get() and validate it themselves, naming the option.
 */
#ifndef CERT_PUSHER_CONF_H
#define CERT_PUSHER_CONF_H

#include <stddef.h>

struct conf;

struct conf *conf_new(void);
void conf_free(struct conf *c);

/* Set <name> to <value>. A value from a flag (<from_flag> = 1) is never replaced by a value
 * from the file. 0 or -1 (OOM). */
int conf_set(struct conf *c, const char *name, const char *value, int from_flag);

/* The value, or NULL when unset. Owned by <c>. */
const char *conf_get(const struct conf *c, const char *name);
/* conf_get() with a default. */
const char *conf_get_def(const struct conf *c, const char *name, const char *def);

/* Load a config file. Names not in <known> (NULL-terminated) are errors. -1 with <err>
 * "FILE:LINE: ..." on failure. */
int conf_load_file(struct conf *c, const char *path, const char *const *known, char *err,
                   size_t errsz);

#endif
