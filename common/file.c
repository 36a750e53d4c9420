// SPDX-License-Identifier: MIT
/*
 * Bounded, mode-checked file reads for configuration and secrets.
 */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(const char *path, size_t max, int secret, struct buf *out, char *err, size_t errsz)
{
	struct stat st;
	uint8_t chunk[4096];
	ssize_t n;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077)) {
		snprintf(err, errsz,
		         "%s: mode %04o gives group/others access; expected 0600 or stricter", path,
		         (unsigned)(st.st_mode & 07777));
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > max) {
			snprintf(err, errsz, "%s: larger than %zu bytes", path, max);
			goto out;
		}
		if (buf_append(out, chunk, (size_t)n) < 0) {
			snprintf(err, errsz, "%s: out of memory", path);
			goto out;
		}
	}
	ret = 0;
out:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	close(fd);
	return ret;
}

void file_chomp(struct buf *b)
{
	while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r' ||
	                  b->data[b->len - 1] == ' '))
		b->data[--b->len] = 0;
}

char *file_next_line(char **cursor, unsigned *lineno)
{
	char *line, *next, *end;

	while ((line = *cursor) && *line) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		*cursor = next;
		(*lineno)++;
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = 0;
		if (*line && *line != '#')
			return line;
	}
	return NULL;
}
