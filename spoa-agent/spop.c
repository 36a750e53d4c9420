// SPDX-License-Identifier: MIT
/*
 * SPOP 2.0 codec (HAProxy's doc/SPOE.txt §3): HAProxy's varints, frame headers, typed data,
 * KV lists, the HAPROXY-HELLO / HAPROXY-DISCONNECT / NOTIFY payloads, and the AGENT-HELLO,
 * AGENT-DISCONNECT and ACK frames the agent sends.
 *
 * It does no I/O, no allocation and no logging: decoders read [p, end) and never past it,
 * encoders write into the caller's buffer and fail cleanly when it is too small. Whatever is
 * decoded borrows the input. The connection state machine (agent.c) owns the buffers, decides
 * what to answer and logs.
 *
 * The byte layouts follow what HAProxy 2.6 (src/spoe.c, include/haproxy/intops.h) actually
 * encodes, checked against frames captured from Debian's 2.6.12 (tests/unit/test_spop.c):
 * KV names, message names and set-var names are bare varint-length strings without a type
 * byte; signed integers are the varint of their two's complement.
 */
#include <string.h>

#include "spoa-agent/spop.h"

#define SPOP_DATA_TYPE_MASK 0x0f
#define SPOP_DATA_FL_TRUE   0x10

/* Writes <v> as HAProxy's varint (intops.h encode_varint()): below 240 one byte; else a first
 * byte 0xF0 | low 4 bits, then 7-bit groups with the high bit as continuation, the value being
 * reduced by each group's offset so that every value has a single encoding. Advances <*pp>;
 * returns the number of bytes written, or -1 (nothing advanced) if [*pp, end) is too small.
 */
int spop_varint_encode(uint64_t v, uint8_t **pp, const uint8_t *end)
{
	uint8_t tmp[SPOP_VARINT_MAX_LEN];
	size_t n = 0;
	int ret = -1;

	if (v < 240) {
		tmp[n++] = (uint8_t)v;
	} else {
		tmp[n++] = (uint8_t)v | 0xf0;
		v = (v - 240) >> 4;
		while (v >= 128) {
			tmp[n++] = (uint8_t)v | 0x80;
			v = (v - 128) >> 7;
		}
		tmp[n++] = (uint8_t)v;
	}
	if (n > (size_t)(end - *pp))
		goto out;
	memcpy(*pp, tmp, n);
	*pp += n;
	ret = (int)n;
out:
	return ret;
}

/* Reads one of HAProxy's varints from [*pp, end) into <*v> (intops.h decode_varint(): each
 * following byte is added whole, continuation bit included, shifted by 4 then 7 more per byte).
 * Returns the bytes consumed and advances <*pp>; 0 if the input ends inside the varint; -1 if
 * it is longer than SPOP_VARINT_MAX_LEN bytes or does not fit in 64 bits. Never reads past
 * <end>.
 */
int spop_varint_decode(uint64_t *v, const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;
	uint64_t val, add;
	unsigned shift = 4;
	uint8_t b;
	int ret = -1;

	if (p >= end) {
		ret = 0;
		goto out;
	}
	val = *p++;
	if (val < 240)
		goto done;
	do {
		if (p - *pp >= SPOP_VARINT_MAX_LEN)
			goto out;
		if (p >= end) {
			ret = 0;
			goto out;
		}
		b = *p++;
		if (shift >= 64 || b > (UINT64_MAX >> shift))
			goto out;
		add = (uint64_t)b << shift;
		if (val > UINT64_MAX - add)
			goto out;
		val += add;
		shift += 7;
	} while (b >= 128);
done:
	*v = val;
	ret = (int)(p - *pp);
	*pp = p;
out:
	return ret;
}

/* spop_varint_decode() with the one-byte case inlined: most ids, lengths and sizes are below
 * 240, and this runs several times per argument on the hot path.
 */
static inline int spop_varint_get(uint64_t *v, const uint8_t **pp, const uint8_t *end)
{
	if (*pp < end && **pp < 240) {
		*v = *(*pp)++;
		return 1;
	}
	return spop_varint_decode(v, pp, end);
}

/* spop_varint_encode() with the one-byte case inlined. */
static inline int spop_varint_put(uint64_t v, uint8_t **pp, const uint8_t *end)
{
	if (v < 240 && *pp < end) {
		*(*pp)++ = (uint8_t)v;
		return 1;
	}
	return spop_varint_encode(v, pp, end);
}

/* Reads a big-endian 32-bit value from <p> (4 bytes the caller has checked). */
static uint32_t spop_read_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Writes <v> big-endian at <p> (4 bytes the caller has checked). */
static void spop_write_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Checks the 4-byte length in front of the buffered bytes [buf, buf+len) against the SPOP
 * bounds before anything is allocated: returns the whole frame size (length prefix included)
 * when all of it is buffered, 0 if more is needed, -1 with <*status> INVALID (shorter than the
 * smallest frame) or TOO_BIG (above <max_frame_size>, which excludes the prefix as in
 * HAProxy's spoe.c).
 */
ssize_t spop_frame_peek(const uint8_t *buf, size_t len, uint32_t max_frame_size,
                        enum spop_status *status)
{
	uint32_t flen;
	ssize_t ret = -1;

	if (len < SPOP_FRAME_HDR_LEN) {
		ret = 0;
		goto out;
	}
	flen = spop_read_be32(buf);
	if (flen < SPOP_FRAME_MIN_LEN) {
		*status = SPOP_STATUS_INVALID;
		goto out;
	}
	if (flen > max_frame_size) {
		*status = SPOP_STATUS_TOO_BIG;
		goto out;
	}
	if (len - SPOP_FRAME_HDR_LEN < flen) {
		ret = 0;
		goto out;
	}
	ret = (ssize_t)flen + SPOP_FRAME_HDR_LEN;
out:
	return ret;
}

/* Decodes the frame body [body, body+body_len) (the bytes after the length prefix) into <*f>:
 * type, flags, stream-id, frame-id; the payload borrows <body>. Returns 0, or -1 with
 * <*status> INVALID (truncated or bad varint) or FRAG_NOT_SUPPORTED (FIN clear: we never
 * announce fragmentation, SPOE.txt §3.2.1); <*f> is filled in the latter case.
 */
int spop_frame_decode(const uint8_t *body, size_t body_len, struct spop_frame *f,
                      enum spop_status *status)
{
	const uint8_t *p = body, *end = body + body_len;
	int ret = -1;

	*status = SPOP_STATUS_INVALID;
	if (body_len < 5)
		goto out;
	f->type = (enum spop_frame_type)p[0];
	f->flags = spop_read_be32(p + 1);
	p += 5;
	if (spop_varint_get(&f->stream_id, &p, end) <= 0)
		goto out;
	if (spop_varint_get(&f->frame_id, &p, end) <= 0)
		goto out;
	f->payload = p;
	f->payload_len = (size_t)(end - p);
	if (!(f->flags & SPOP_FLAG_FIN)) {
		*status = SPOP_STATUS_FRAG_NOT_SUPPORTED;
		goto out;
	}
	*status = SPOP_STATUS_NONE;
	ret = 0;
out:
	return ret;
}

/* Reads a varint length then that many bytes from [*pp, end): the bare string used for KV
 * names, message names and inside STRING/BINARY data. <*s> borrows the input. 1 or -1.
 */
static int spop_buf_decode(const uint8_t **s, size_t *len, const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;
	uint64_t n;
	int ret = -1;

	if (spop_varint_get(&n, &p, end) <= 0)
		goto out;
	if (n > (uint64_t)(end - p))
		goto out;
	*s = p;
	*len = (size_t)n;
	*pp = p + n;
	ret = 1;
out:
	return ret;
}

/* Writes a varint length and <len> bytes of <s>. Advances <*pp>; 0 or -1 (nothing written
 * that matters: *pp is left unchanged) if it does not fit.
 */
static int spop_buf_encode(const void *s, size_t len, uint8_t **pp, const uint8_t *end)
{
	uint8_t *p = *pp;
	int ret = -1;

	if (spop_varint_put(len, &p, end) < 0)
		goto out;
	if (len > (size_t)(end - p))
		goto out;
	if (len)
		memcpy(p, s, len);
	*pp = p + len;
	ret = 0;
out:
	return ret;
}

/* Decodes one typed value (SPOE.txt §3.1) from [*pp, end) into <*d>. Strings and binaries
 * borrow the input. INT32/INT64 are the varint of the two's complement (HAProxy casts its
 * int64 to the varint's uint64); an INT32 outside int32 or a UINT32 above 2^32-1 is invalid,
 * and so are the reserved types 10-15. Returns 1 and advances <*pp>, or -1 (truncation
 * included).
 */
int spop_data_decode(struct spop_data *d, const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;
	uint64_t u;
	uint8_t tb;
	int ret = -1;

	if (p >= end)
		goto out;
	tb = *p++;
	switch (tb & SPOP_DATA_TYPE_MASK) {
	case SPOP_DATA_NULL:
		d->type = SPOP_DATA_NULL;
		break;
	case SPOP_DATA_BOOL:
		d->type = SPOP_DATA_BOOL;
		d->v.b = (tb & SPOP_DATA_FL_TRUE) != 0;
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		if (spop_varint_get(&u, &p, end) <= 0)
			goto out;
		d->type = (enum spop_data_type)(tb & SPOP_DATA_TYPE_MASK);
		d->v.i = (int64_t)u;
		if (d->type == SPOP_DATA_INT32 && (d->v.i < INT32_MIN || d->v.i > INT32_MAX))
			goto out;
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		if (spop_varint_get(&u, &p, end) <= 0)
			goto out;
		d->type = (enum spop_data_type)(tb & SPOP_DATA_TYPE_MASK);
		if (d->type == SPOP_DATA_UINT32 && u > UINT32_MAX)
			goto out;
		d->v.u = u;
		break;
	case SPOP_DATA_IPV4:
		if ((size_t)(end - p) < 4)
			goto out;
		d->type = SPOP_DATA_IPV4;
		memcpy(d->v.ipv4, p, 4);
		p += 4;
		break;
	case SPOP_DATA_IPV6:
		if ((size_t)(end - p) < 16)
			goto out;
		d->type = SPOP_DATA_IPV6;
		memcpy(d->v.ipv6, p, 16);
		p += 16;
		break;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		d->type = (enum spop_data_type)(tb & SPOP_DATA_TYPE_MASK);
		if (spop_buf_decode(&d->v.str.p, &d->v.str.len, &p, end) < 0)
			goto out;
		break;
	default:
		goto out;
	}
	*pp = p;
	ret = 1;
out:
	return ret;
}

/* Encodes <*d> as typed data into [*pp, end) (the inverse of spop_data_decode()). Returns the
 * bytes written and advances <*pp>, or -1 with <*pp> unchanged if it does not fit or the type
 * is unknown.
 */
int spop_data_encode(const struct spop_data *d, uint8_t **pp, const uint8_t *end)
{
	uint8_t *p = *pp;
	int ret = -1;

	if (p >= end || (unsigned)d->type >= SPOP_DATA_COUNT)
		goto out;
	*p++ = (uint8_t)d->type;
	switch (d->type) {
	case SPOP_DATA_NULL:
		break;
	case SPOP_DATA_BOOL:
		if (d->v.b)
			p[-1] |= SPOP_DATA_FL_TRUE;
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		if (spop_varint_put((uint64_t)d->v.i, &p, end) < 0)
			goto out;
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		if (spop_varint_put(d->v.u, &p, end) < 0)
			goto out;
		break;
	case SPOP_DATA_IPV4:
		if ((size_t)(end - p) < 4)
			goto out;
		memcpy(p, d->v.ipv4, 4);
		p += 4;
		break;
	case SPOP_DATA_IPV6:
		if ((size_t)(end - p) < 16)
			goto out;
		memcpy(p, d->v.ipv6, 16);
		p += 16;
		break;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		if (spop_buf_encode(d->v.str.p, d->v.str.len, &p, end) < 0)
			goto out;
		break;
	default:
		goto out;
	}
	ret = (int)(p - *pp);
	*pp = p;
out:
	return ret;
}

/* Decodes one KV item: a bare string name then typed data. <*name> borrows the input.
 * 1 and <*pp> advanced, or -1.
 */
int spop_kv_decode(const uint8_t **name, size_t *name_len, struct spop_data *d, const uint8_t **pp,
                   const uint8_t *end)
{
	const uint8_t *p = *pp;
	int ret = -1;

	if (spop_buf_decode(name, name_len, &p, end) < 0)
		goto out;
	if (spop_data_decode(d, &p, end) < 0)
		goto out;
	*pp = p;
	ret = 1;
out:
	return ret;
}

/* Writes a KV item: bare string <name> then typed <*d>. 0 or -1 with <*pp> unchanged. */
static int spop_kv_encode(const char *name, const struct spop_data *d, uint8_t **pp,
                          const uint8_t *end)
{
	uint8_t *p = *pp;
	int ret = -1;

	if (spop_buf_encode(name, strlen(name), &p, end) < 0)
		goto out;
	if (spop_data_encode(d, &p, end) < 0)
		goto out;
	*pp = p;
	ret = 0;
out:
	return ret;
}

/* True when the <len> bytes at <s> equal the C string <lit>. */
static bool spop_eq(const uint8_t *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* Calls <fn> on each item of the comma-separated list [s, s+len) with the spaces around it
 * trimmed (SPOE.txt §3.2.4: "spaces must be ignored"); empty items are skipped.
 */
static void spop_list_each(const uint8_t *s, size_t len,
                           void (*fn)(const uint8_t *item, size_t ilen, struct spop_hello *h),
                           struct spop_hello *h)
{
	const uint8_t *end = s + len, *b, *e;

	while (s < end) {
		b = s;
		while (s < end && *s != ',')
			s++;
		e = s;
		if (s < end)
			s++; /* the comma */
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b)
			fn(b, (size_t)(e - b), h);
	}
}

/* A supported-versions item: "M.m" with decimal digits. "2.m" means SPOP 2.0 to 2.m are
 * supported (SPOE.txt §3.2.4), so any major 2 covers our "2.0".
 */
static void spop_hello_version(const uint8_t *item, size_t len, struct spop_hello *h)
{
	size_t i = 0, n;

	while (i < len && item[i] == '0')
		i++;
	if (i == len || item[i] != '2' || i + 1 >= len || item[i + 1] != '.')
		return;
	i += 2;
	n = i;
	while (i < len && item[i] >= '0' && item[i] <= '9')
		i++;
	if (i == n || i != len)
		return;
	h->version_2_0 = true;
}

/* A capabilities item; unknown ones are ignored (SPOE.txt §3.2.1). */
static void spop_hello_cap(const uint8_t *item, size_t len, struct spop_hello *h)
{
	if (spop_eq(item, len, "pipelining"))
		h->pipelining = true;
	else if (spop_eq(item, len, "async"))
		h->async = true;
	else if (spop_eq(item, len, "fragmentation"))
		h->fragmentation = true;
}

/* Turns an integer of any SPOP integer type into an unsigned value; negative ones and other
 * types fail. HAProxy sends max-frame-size as UINT32 but accepts any integer type itself.
 */
static int spop_data_to_u64(const struct spop_data *d, uint64_t *u, bool *negative)
{
	int ret = -1;

	*negative = false;
	switch (d->type) {
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		*u = d->v.u;
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		*negative = d->v.i < 0;
		*u = *negative ? 0 : (uint64_t)d->v.i;
		break;
	default:
		goto out;
	}
	ret = 0;
out:
	return ret;
}

/* Decodes a HAPROXY-HELLO payload (a KV list, SPOE.txt §3.2.4) into <*h>. Unknown items
 * (engine-id among them) are skipped. A known item of the wrong type, or a malformed list, is
 * INVALID. Then, in this order: no supported-versions -> NO_VSN, no major 2 -> BAD_VSN, no
 * max-frame-size -> NO_FRAME_SIZE, below SPOP_MIN_FRAME_SIZE (or negative) -> BAD_FRAME_SIZE,
 * no capabilities -> NO_CAP. A value above 2^32-1 is clamped. Returns 0, or -1 with <*status>.
 */
int spop_hello_decode(const uint8_t *p, size_t len, struct spop_hello *h, enum spop_status *status)
{
	const uint8_t *end = p + len, *name;
	struct spop_data d;
	size_t name_len;
	uint64_t u;
	bool neg, bad_size = false;
	int ret = -1;

	memset(h, 0, sizeof(*h));
	*status = SPOP_STATUS_INVALID;
	while (p < end) {
		if (spop_kv_decode(&name, &name_len, &d, &p, end) < 0)
			goto out;
		if (spop_eq(name, name_len, "supported-versions")) {
			if (d.type != SPOP_DATA_STR)
				goto out;
			h->has_versions = true;
			h->version_2_0 = false;
			spop_list_each(d.v.str.p, d.v.str.len, spop_hello_version, h);
		} else if (spop_eq(name, name_len, "max-frame-size")) {
			if (spop_data_to_u64(&d, &u, &neg) < 0)
				goto out;
			h->has_max_frame_size = true;
			bad_size = neg || u < SPOP_MIN_FRAME_SIZE;
			h->max_frame_size = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
		} else if (spop_eq(name, name_len, "capabilities")) {
			if (d.type != SPOP_DATA_STR)
				goto out;
			h->has_capabilities = true;
			h->pipelining = h->async = h->fragmentation = false;
			spop_list_each(d.v.str.p, d.v.str.len, spop_hello_cap, h);
		} else if (spop_eq(name, name_len, "healthcheck")) {
			if (d.type != SPOP_DATA_BOOL)
				goto out;
			h->healthcheck = d.v.b;
		}
	}
	if (!h->has_versions)
		*status = SPOP_STATUS_NO_VSN;
	else if (!h->version_2_0)
		*status = SPOP_STATUS_BAD_VSN;
	else if (!h->has_max_frame_size)
		*status = SPOP_STATUS_NO_FRAME_SIZE;
	else if (bad_size)
		*status = SPOP_STATUS_BAD_FRAME_SIZE;
	else if (!h->has_capabilities)
		*status = SPOP_STATUS_NO_CAP;
	else
		*status = SPOP_STATUS_NONE;
	if (*status != SPOP_STATUS_NONE)
		goto out;
	ret = 0;
out:
	return ret;
}

/* Decodes a HAPROXY-DISCONNECT payload (SPOE.txt §3.2.8): "status-code" (any non-negative
 * integer type, clamped to 2^32-1, mandatory) into <*code>, "message" (string, optional: NULL
 * and 0 when absent) into <*msg>/<*msg_len>, borrowed from the input. Returns 0 or -1.
 */
int spop_disconnect_decode(const uint8_t *p, size_t len, uint32_t *code, const uint8_t **msg,
                           size_t *msg_len)
{
	const uint8_t *end = p + len, *name;
	struct spop_data d;
	size_t name_len;
	uint64_t u;
	bool neg, has_code = false;
	int ret = -1;

	*msg = NULL;
	*msg_len = 0;
	*code = 0;
	while (p < end) {
		if (spop_kv_decode(&name, &name_len, &d, &p, end) < 0)
			goto out;
		if (spop_eq(name, name_len, "status-code")) {
			if (spop_data_to_u64(&d, &u, &neg) < 0 || neg)
				goto out;
			*code = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
			has_code = true;
		} else if (spop_eq(name, name_len, "message")) {
			if (d.type != SPOP_DATA_STR)
				goto out;
			*msg = d.v.str.p;
			*msg_len = d.v.str.len;
		}
	}
	if (!has_code)
		goto out;
	ret = 0;
out:
	return ret;
}

/* Reads the next message of a NOTIFY payload (SPOE.txt §3.2: name, NB-ARGS on one byte, then
 * NB-ARGS KV items) into <*m>. All its arguments are validated and skipped so that <*pp> ends
 * past them. Returns 1, 0 when [*pp, end) is empty, or -1 when malformed.
 */
int spop_message_next(struct spop_message *m, const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp, *name;
	struct spop_data d;
	size_t name_len;
	unsigned i;
	int ret = -1;

	if (p >= end) {
		ret = 0;
		goto out;
	}
	if (spop_buf_decode(&m->name, &m->name_len, &p, end) < 0)
		goto out;
	if (p >= end)
		goto out;
	m->nargs = *p++;
	m->args = p;
	m->end = end;
	for (i = 0; i < m->nargs; i++) {
		if (spop_kv_decode(&name, &name_len, &d, &p, end) < 0)
			goto out;
	}
	*pp = p;
	ret = 1;
out:
	return ret;
}

/* Writes the frame header of a frame the agent sends (FIN, SPOE.txt §3.2) after room for the
 * length prefix, at <*pp>. 0 or -1.
 */
static int spop_hdr_encode(enum spop_frame_type type, uint64_t stream_id, uint64_t frame_id,
                           uint8_t **pp, const uint8_t *end)
{
	uint8_t *p = *pp;
	int ret = -1;

	if ((size_t)(end - p) < SPOP_FRAME_HDR_LEN + 5)
		goto out;
	p += SPOP_FRAME_HDR_LEN;
	*p++ = (uint8_t)type;
	spop_write_be32(p, SPOP_FLAG_FIN);
	p += 4;
	if (spop_varint_put(stream_id, &p, end) < 0)
		goto out;
	if (spop_varint_put(frame_id, &p, end) < 0)
		goto out;
	*pp = p;
	ret = 0;
out:
	return ret;
}

/* Fills the length prefix of the frame [start, p) and returns the whole frame size, or -1 if
 * it would not fit the 32-bit length.
 */
static int spop_frame_close(uint8_t *start, const uint8_t *p)
{
	size_t len = (size_t)(p - start);

	if (len > INT32_MAX)
		return -1;
	spop_write_be32(start, (uint32_t)(len - SPOP_FRAME_HDR_LEN));
	return (int)len;
}

/* Builds an AGENT-HELLO (SPOE.txt §3.2.5) as one whole frame in <out>: version "2.0",
 * max-frame-size <max_frame_size> as UINT32 (always sent: 3.x's health check requires it),
 * capabilities "pipelining", FIN, stream-id and frame-id 0. Returns its size or -1.
 */
int spop_agent_hello_encode(uint8_t *out, size_t outsz, uint32_t max_frame_size)
{
	uint8_t *p = out;
	const uint8_t *end = out + outsz;
	struct spop_data d;
	int ret = -1;

	if (spop_hdr_encode(SPOP_FRAME_AGENT_HELLO, 0, 0, &p, end) < 0)
		goto out;
	d.type = SPOP_DATA_STR;
	d.v.str.p = (const uint8_t *)SPOP_VERSION;
	d.v.str.len = strlen(SPOP_VERSION);
	if (spop_kv_encode("version", &d, &p, end) < 0)
		goto out;
	d.type = SPOP_DATA_UINT32;
	d.v.u = max_frame_size;
	if (spop_kv_encode("max-frame-size", &d, &p, end) < 0)
		goto out;
	d.type = SPOP_DATA_STR;
	d.v.str.p = (const uint8_t *)"pipelining";
	d.v.str.len = strlen("pipelining");
	if (spop_kv_encode("capabilities", &d, &p, end) < 0)
		goto out;
	ret = spop_frame_close(out, p);
out:
	return ret;
}

/* Builds an AGENT-DISCONNECT (SPOE.txt §3.2.9) in <out>: "status-code" UINT32 <status> and
 * "message" <message> (spop_status_str(<status>) when NULL). Returns its size or -1.
 */
int spop_agent_disconnect_encode(uint8_t *out, size_t outsz, enum spop_status status,
                                 const char *message)
{
	uint8_t *p = out;
	const uint8_t *end = out + outsz;
	struct spop_data d;
	int ret = -1;

	if (!message)
		message = spop_status_str(status);
	if (spop_hdr_encode(SPOP_FRAME_AGENT_DISCONNECT, 0, 0, &p, end) < 0)
		goto out;
	d.type = SPOP_DATA_UINT32;
	d.v.u = (uint32_t)status;
	if (spop_kv_encode("status-code", &d, &p, end) < 0)
		goto out;
	d.type = SPOP_DATA_STR;
	d.v.str.p = (const uint8_t *)message;
	d.v.str.len = strlen(message);
	if (spop_kv_encode("message", &d, &p, end) < 0)
		goto out;
	ret = spop_frame_close(out, p);
out:
	return ret;
}

/* Starts an ACK (SPOE.txt §3.2.7) in <out>, echoing <stream_id> and <frame_id> of the NOTIFY.
 * <out> must stay valid until spop_ack_end(). 0, or -1 (builder unusable) if it does not fit.
 */
int spop_ack_begin(struct spop_ack *a, uint8_t *out, size_t outsz, uint64_t stream_id,
                   uint64_t frame_id)
{
	uint8_t *p = out;
	int ret = -1;

	a->start = out;
	a->p = NULL;
	a->end = out + outsz;
	if (spop_hdr_encode(SPOP_FRAME_ACK, stream_id, frame_id, &p, a->end) < 0)
		goto out;
	a->p = p;
	ret = 0;
out:
	return ret;
}

/* Appends a set-var action (SPOE.txt §3.4): 01 03 <scope> <name as bare string> <typed
 * value>. HAProxy prefixes the name with the SPOE "var-prefix" itself. 0, or -1 (builder
 * unusable) if it does not fit.
 */
int spop_ack_set_var(struct spop_ack *a, enum spop_scope scope, const char *name,
                     const struct spop_data *value)
{
	uint8_t *p = a->p;
	int ret = -1;

	if (!p || (size_t)(a->end - p) < 3)
		goto fail;
	*p++ = SPOP_ACTION_SET_VAR;
	*p++ = 3;
	*p++ = (uint8_t)scope;
	if (spop_buf_encode(name, strlen(name), &p, a->end) < 0)
		goto fail;
	if (spop_data_encode(value, &p, a->end) < 0)
		goto fail;
	a->p = p;
	ret = 0;
	goto out;
fail:
	a->p = NULL;
out:
	return ret;
}

/* Finishes the ACK: writes the length prefix and returns the whole frame size, or -1 if the
 * builder failed earlier.
 */
int spop_ack_end(struct spop_ack *a)
{
	int ret = -1;

	if (!a->p)
		goto out;
	ret = spop_frame_close(a->start, a->p);
out:
	return ret;
}

static const char *const spop_status_names[] = {
	[SPOP_STATUS_NONE] = "normal",
	[SPOP_STATUS_IO] = "I/O error",
	[SPOP_STATUS_TIMEOUT] = "a timeout occurred",
	[SPOP_STATUS_TOO_BIG] = "frame is too big",
	[SPOP_STATUS_INVALID] = "invalid frame received",
	[SPOP_STATUS_NO_VSN] = "version value not found",
	[SPOP_STATUS_NO_FRAME_SIZE] = "max-frame-size value not found",
	[SPOP_STATUS_NO_CAP] = "capabilities value not found",
	[SPOP_STATUS_BAD_VSN] = "unsupported version",
	[SPOP_STATUS_BAD_FRAME_SIZE] = "max-frame-size too big or too small",
	[SPOP_STATUS_FRAG_NOT_SUPPORTED] = "fragmentation not supported",
	[SPOP_STATUS_INTERLACED_FRAMES] = "invalid interlaced frames",
	[SPOP_STATUS_FRAMEID_NOTFOUND] = "frame-id not found",
	[SPOP_STATUS_RES_ALLOC_ERR] = "resource allocation error",
};

/* The text of SPOE.txt §3.5 for <status>; "an unknown error occurred" for others. Static. */
const char *spop_status_str(enum spop_status status)
{
	if ((unsigned)status < sizeof(spop_status_names) / sizeof(spop_status_names[0]) &&
	    spop_status_names[status])
		return spop_status_names[status];
	return "an unknown error occurred";
}
