/* SPDX-License-Identifier: MIT */
/*
 * SPOP 2.0 codec (HAProxy's doc/SPOE.txt §3): frames, HAProxy's varints, typed data, KV lists,
 * and the three frames the agent sends (AGENT-HELLO, ACK, AGENT-DISCONNECT).
 *
 * No I/O, no allocation, no logging: decoders read from [p, end) and never past it; encoders
 * write into a caller buffer and fail cleanly when it is too small. The connection state
 * machine (agent.c) owns the buffers and decides what to answer.
 *
 * Conventions: decoders return the number of bytes consumed, 0 for "incomplete, need more",
 * -1 for invalid (with <*status> set to the SPOP status to send in AGENT-DISCONNECT).
 * Cursor codecs take (uint8_t **pp, const uint8_t *end) and advance *pp only on success.
 */
#ifndef SPOA_AGENT_SPOP_H
#define SPOA_AGENT_SPOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPOP_VERSION        "2.0"
#define SPOP_FRAME_HDR_LEN  4     /* the big-endian length before every frame */
#define SPOP_FRAME_MIN_LEN  7     /* type + flags(4) + stream-id(>=1) + frame-id(>=1) */
#define SPOP_MAX_FRAME_SIZE 16384 /* ours, and HAProxy's default tune.bufsize-based one */
#define SPOP_MIN_FRAME_SIZE 256   /* below this a peer's max-frame-size is refused */
#define SPOP_VARINT_MAX_LEN 10
#define SPOP_FLAG_FIN       0x00000001u
#define SPOP_FLAG_ABORT     0x00000002u

enum spop_frame_type {
	SPOP_FRAME_UNSET = 0,
	SPOP_FRAME_HAPROXY_HELLO = 1,
	SPOP_FRAME_HAPROXY_DISCONNECT = 2,
	SPOP_FRAME_NOTIFY = 3,
	SPOP_FRAME_AGENT_HELLO = 101,
	SPOP_FRAME_AGENT_DISCONNECT = 102,
	SPOP_FRAME_ACK = 103,
};

/* SPOE.txt §3.6 "Errors and timeouts" status codes. */
enum spop_status {
	SPOP_STATUS_NONE = 0,
	SPOP_STATUS_IO = 1,
	SPOP_STATUS_TIMEOUT = 2,
	SPOP_STATUS_TOO_BIG = 3,
	SPOP_STATUS_INVALID = 4,
	SPOP_STATUS_NO_VSN = 5,
	SPOP_STATUS_NO_FRAME_SIZE = 6,
	SPOP_STATUS_NO_CAP = 7,
	SPOP_STATUS_BAD_VSN = 8,
	SPOP_STATUS_BAD_FRAME_SIZE = 9,
	SPOP_STATUS_FRAG_NOT_SUPPORTED = 10,
	SPOP_STATUS_INTERLACED_FRAMES = 11,
	SPOP_STATUS_FRAMEID_NOTFOUND = 12,
	SPOP_STATUS_RES_ALLOC_ERR = 13,
	SPOP_STATUS_UNKNOWN = 99,
};

/* Low 4 bits of a typed-data type byte; the high 4 bits are flags (bool value = 0x10). */
enum spop_data_type {
	SPOP_DATA_NULL = 0,
	SPOP_DATA_BOOL = 1,
	SPOP_DATA_INT32 = 2,
	SPOP_DATA_UINT32 = 3,
	SPOP_DATA_INT64 = 4,
	SPOP_DATA_UINT64 = 5,
	SPOP_DATA_IPV4 = 6,
	SPOP_DATA_IPV6 = 7,
	SPOP_DATA_STR = 8,
	SPOP_DATA_BIN = 9,
	SPOP_DATA_COUNT,
};

enum spop_scope {
	SPOP_SCOPE_PROC = 0,
	SPOP_SCOPE_SESS = 1,
	SPOP_SCOPE_TXN = 2,
	SPOP_SCOPE_REQ = 3,
	SPOP_SCOPE_RES = 4,
};

#define SPOP_ACTION_SET_VAR   1
#define SPOP_ACTION_UNSET_VAR 2

/* A typed value. Strings and binaries borrow the decoded buffer. */
struct spop_data {
	enum spop_data_type type;
	union {
		bool b;
		int64_t i;  /* INT32, INT64 */
		uint64_t u; /* UINT32, UINT64 */
		uint8_t ipv4[4];
		uint8_t ipv6[16];
		struct {
			const uint8_t *p;
			size_t len;
		} str; /* STR, BIN */
	} v;
};

/* A decoded frame header; <payload> borrows the input. */
struct spop_frame {
	enum spop_frame_type type; /* raw type byte; unknown values are kept */
	uint32_t flags;
	uint64_t stream_id;
	uint64_t frame_id;
	const uint8_t *payload;
	size_t payload_len;
};

/* What the agent needs of HAPROXY-HELLO (SPOE.txt §3.2.4). */
struct spop_hello {
	bool version_2_0; /* "2.0" is in supported-versions */
	bool has_versions;
	bool has_max_frame_size;
	uint32_t max_frame_size;
	bool has_capabilities;
	bool pipelining;
	bool async;
	bool fragmentation;
	bool healthcheck;
};

/* A message of a NOTIFY's list, and a cursor over its arguments. */
struct spop_message {
	const uint8_t *name;
	size_t name_len;
	unsigned nargs;
	const uint8_t *args; /* first argument */
	const uint8_t *end;  /* end of the NOTIFY payload */
};

/* HAProxy's varint (SPOE.txt §3.1, not LEB128). Encode: bytes written or -1 if no room.
 * Decode: bytes consumed, 0 if incomplete, -1 if longer than 10 bytes or overflowing 64 bits. */
int spop_varint_encode(uint64_t v, uint8_t **pp, const uint8_t *end);
int spop_varint_decode(uint64_t *v, const uint8_t **pp, const uint8_t *end);

/*
 * Look at buffered input: when a whole frame is there return its total size (4-byte length
 * included), 0 when more bytes are needed, -1 when the announced length is below
 * SPOP_FRAME_MIN_LEN (status INVALID) or above <max_frame_size> (status TOO_BIG). Called
 * before anything is allocated for the frame.
 */
ssize_t spop_frame_peek(const uint8_t *buf, size_t len, uint32_t max_frame_size,
                        enum spop_status *status);

/* Decode one whole frame body (after the 4-byte length). 0 or -1 with <*status>. */
int spop_frame_decode(const uint8_t *body, size_t body_len, struct spop_frame *f,
                      enum spop_status *status);

/* Typed data and KV pairs. 1 when one item was read, -1 when invalid (truncated included:
 * inside a whole frame, truncation is invalid). */
int spop_data_decode(struct spop_data *d, const uint8_t **pp, const uint8_t *end);
/* Typed data encoder, the inverse of spop_data_decode(): bytes written and *pp advanced, or -1
 * with *pp unchanged when [*pp, end) is too small or the type unknown. */
int spop_data_encode(const struct spop_data *d, uint8_t **pp, const uint8_t *end);
int spop_kv_decode(const uint8_t **name, size_t *name_len, struct spop_data *d, const uint8_t **pp,
                   const uint8_t *end);

/* HAPROXY-HELLO payload. 0, or -1 with <*status> (INVALID, NO_VSN, NO_FRAME_SIZE, NO_CAP,
 * BAD_VSN, BAD_FRAME_SIZE) per SPOE.txt §3.2.4 and DESIGN.md. */
int spop_hello_decode(const uint8_t *p, size_t len, struct spop_hello *h, enum spop_status *status);

/* HAPROXY-DISCONNECT payload: status-code and message (borrowed, may be NULL). 0 or -1. */
int spop_disconnect_decode(const uint8_t *p, size_t len, uint32_t *code, const uint8_t **msg,
                           size_t *msg_len);

/* Iterate a NOTIFY's messages: 1 with <*m> filled, 0 at the end, -1 invalid. After a message,
 * *pp is past all its arguments. Arguments: spop_kv_decode() from m->args, m->nargs times. */
int spop_message_next(struct spop_message *m, const uint8_t **pp, const uint8_t *end);

/* AGENT-HELLO with version "2.0", max-frame-size and capabilities "pipelining", as one whole
 * frame (length included) in <out>. Returns the frame size or -1 if <outsz> is too small. */
int spop_agent_hello_encode(uint8_t *out, size_t outsz, uint32_t max_frame_size);

/* AGENT-DISCONNECT with status-code and message. Frame size or -1. */
int spop_agent_disconnect_encode(uint8_t *out, size_t outsz, enum spop_status status,
                                 const char *message);

/* ACK builder: begin, add set-var actions, end. Each returns -1 when <outsz> is exceeded (the
 * builder is then unusable); spop_ack_end() returns the whole frame size. */
struct spop_ack {
	uint8_t *start;
	uint8_t *p;
	const uint8_t *end;
};
int spop_ack_begin(struct spop_ack *a, uint8_t *out, size_t outsz, uint64_t stream_id,
                   uint64_t frame_id);
int spop_ack_set_var(struct spop_ack *a, enum spop_scope scope, const char *name,
                     const struct spop_data *value);
int spop_ack_end(struct spop_ack *a);

/* "invalid frame received" etc., for AGENT-DISCONNECT messages and logs. */
const char *spop_status_str(enum spop_status status);

#endif
