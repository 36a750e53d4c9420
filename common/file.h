/* SPDX-License-Identifier: MIT */
/*
 * Reading small files that hold secrets (key ring, passwords, API tokens): the mode is checked
 * (no group/other access), the size bounded, and the bytes land in a buffer the caller wipes.
 */
#ifndef COMMON_FILE_H
#define COMMON_FILE_H

#include <stddef.h>

#include "common/buf.h"

/* Read <path> (at most <max> bytes) into <out>. With <secret>, refuse a file that group or
 * others may read or write. On failure -1 and a message in <err>/<errsz> naming the path. */
int file_read(const char *path, size_t max, int secret, struct buf *out, char *err, size_t errsz);

/* Strip trailing "\n", "\r\n" and spaces from a buffer (passwords and tokens in files). */
void file_chomp(struct buf *b);

/*
 * Next meaningful line of a NUL-terminated text parsed in place ("name value" files: config, key
 * ring): cuts at '\n', trims blanks and a trailing '\r', skips empty and '#' lines. <*cursor>
 * starts at the text and advances; <*lineno> counts every line read. NULL at the end.
 */
char *file_next_line(char **cursor, unsigned *lineno);

#endif
