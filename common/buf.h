/* SPDX-License-Identifier: MIT */
/*
 * Byte buffers: `struct buf` owns a heap block that grows; `struct slice` borrows bytes that
 * someone else owns. Buffers that held secrets are released with buf_wipe(), which cleanses
 * every byte ever written before freeing.
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data; /* owned; always NUL-terminated past <len> once allocated */
	size_t len;
	size_t cap;
};

struct slice {
	const uint8_t *p; /* borrowed */
	size_t len;
};

void buf_init(struct buf *b);
/* Free the storage; <b> is empty and reusable afterwards. Accepts an empty buffer. */
void buf_deinit(struct buf *b);
/* Like buf_deinit() but cleanses the whole capacity first (keys, PEM with private keys). */
void buf_wipe(struct buf *b);
/* Ensure room for <extra> more bytes (+1 for the terminator). 0 on success, -1 on overflow/OOM. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget the content but keep the storage (not wiped: use buf_wipe for secrets). */
void buf_reset(struct buf *b);
/* Return the data as a NUL-terminated string ("" when empty); still owned by <b>. */
const char *buf_str(const struct buf *b);

#endif
