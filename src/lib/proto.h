/* proto: the mirrord messages and their payload codecs.  Pure: no I/O.
 * doc/PROTOCOL.md is the reference; change both together.
 *
 * Every message travels in one frame (wire.h).  proto_check_frame() applies
 * the per-type table (direction, length bounds, allowed flag bits) before a
 * payload is decoded, so handlers see only frames of plausible shape. */
#ifndef MIRROR_PROTO_H
#define MIRROR_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "hash.h"
#include "wire.h"

#define PROTO_MAGIC 0x4d52524eu     /* "MRRN" */
#define PROTO_VERSION 1
#define PROTO_NAME_MAX 255           /* mirror and node names */
#define PROTO_CHUNK 262144           /* data carried by one DATA/SIG frame */
#define PROTO_MSG_MAX 1024

/* HELLO / HELLO_OK feature bits.  A sink that understands a requested
 * feature echoes its bit in HELLO_OK; one that does not ignores it (and a
 * client asking for PULL or DEMOTE must then give up). */
#define PROTO_FEATURE_PULL 0x1       /* reverse session: the sink side sends its
					tree (scan feed), the client receives */
#define PROTO_FEATURE_DEMOTE 0x2     /* the sink side asks its local failoverd to
					"demote" and answers HELLO_OK or ERROR */
#define PROTO_FEATURE_CHANGES 0x4    /* the sink side lists the paths changed on
					it since its promotion (CHANGES...) */
#define PROTO_FEATURE_PATHS 0x8      /* with PULL: the client first names the
					paths to send (PATHS...), no full scan */
#define PROTO_FEATURE_DIGESTS 0x10   /* the sink side sends the content digest
					of every file of its tree (DIGESTS...) */
#define PROTO_FEATURE_AUDIT 0x20     /* drift audit: the client asks for listings
					and digests (AUDIT_REQ...); read-only, it
					does not claim the mirror */
#define PROTO_FEATURE_REPORT 0x40    /* push: the sink reports every operation it
					could not apply (FAILED), so the source
					can send it again */
/* Features a source may ask for and do without: a sink that does not echo
 * them still serves the session, only without them. */
#define PROTO_FEATURES_OPTIONAL PROTO_FEATURE_REPORT
#define PROTO_BATCH_MAX 262144       /* payload of one CHANGE/PATHS/DIGESTS frame */

enum proto_msg {
	MSG_HELLO = 1,       /* source -> sink: magic, versions, features, mirror, node */
	MSG_HELLO_OK = 2,    /* sink -> source: version, features, journal id, acked */
	MSG_ERROR = 3,       /* either way: code, text; the sender then closes */
	MSG_ENTRY = 10,      /* id, entry: create/update anything but file content */
	MSG_DIR_DONE = 11,   /* id, dir path: all children of dir were sent */
	MSG_DELETE = 12,     /* id, path */
	MSG_RENAME = 13,     /* id, from, to */
	MSG_END = 14,        /* id: no more operations in this pass */
	MSG_APPEND = 15,     /* id, path, base, length, tail: bytes appended to a
				file the sink holds; DATA and FILE_END follow */
	MSG_DATA = 20,       /* id, chunk (whole content or delta, maybe zstd) */
	MSG_FILE_END = 21,   /* id, status, size, digest */
	MSG_NEED = 30,       /* sink -> source: id, mode (whole / delta) */
	MSG_SIG = 31,        /* id, signature chunk */
	MSG_SIG_END = 32,    /* id */
	MSG_ACK = 33,        /* id: every op <= id durable (files: see DONE) */
	MSG_DONE = 34,       /* id, status: a file's content is durable (or failed) */
	MSG_END_OK = 35,     /* id, stats */
	MSG_FAILED = 36,     /* sink -> source: status, path: an operation on path
				could not be applied (PROTO_FEATURE_REPORT) */
	MSG_PING = 40,
	MSG_PONG = 41,
	MSG_CHANGES = 50,    /* sink side -> client: journal id, first, last, status */
	MSG_CHANGE = 51,     /* sink side -> client: a batch of change records */
	MSG_CHANGES_END = 52,/* sink side -> client: record count, last sequence */
	MSG_PATHS = 53,      /* client -> sink side: a batch of path requests */
	MSG_PATHS_END = 54,  /* client -> sink side: request count */
	MSG_DIGESTS = 55,    /* sink side -> client: a batch of file digests */
	MSG_DIGESTS_END = 56,/* sink side -> client: record count, errors */
	MSG_AUDIT_REQ = 57,  /* audit client -> sink: rate, kind, path */
	MSG_AUDIT_LIST = 58, /* sink -> audit client: a batch of audit records */
	MSG_AUDIT_END = 59,  /* sink -> audit client: status, records, bytes read */
};

enum proto_dir { TO_SINK = 1, TO_SOURCE = 2, BOTH = 3 };

#define DATA_ZSTD 0x01               /* MSG_DATA flag: chunk is zstd-compressed */
#define ENTRY_LISTED 0x01            /* MSG_ENTRY flag (directories): its children
					follow, closed by DIR_DONE */
#define ENTRY_FORCE 0x02             /* MSG_ENTRY flag (files): send the content
					even when size and mtime match (repair
					of a copy the audit found different) */

enum need_mode { NEED_WHOLE = 0, NEED_DELTA = 1 };

/* APPEND: the sink's copy must be a regular file of exactly base bytes whose
 * last tail_len bytes (min(base, PROTO_TAIL_MAX)) have digest tail. */
#define PROTO_TAIL_MAX 4096
struct proto_append {
	uint64_t id;
	char *path;                  /* heap copy after proto_get_append (free) */
	size_t path_len;
	uint64_t base;               /* offset the new bytes start at */
	uint64_t length;             /* bytes appended (DATA frames carry them) */
	uint32_t tail_len;
	uint8_t tail[HASH_LEN];      /* XXH3-128 of [base - tail_len, base) */
};
enum file_status { FILE_OK = 0, FILE_ABORTED = 1 };

struct proto_hello {
	uint32_t magic;
	uint16_t min_version, max_version;
	uint64_t features;
	const uint8_t *mirror; size_t mirror_len;
	const uint8_t *node; size_t node_len;
};

struct proto_hello_ok {
	uint16_t version;
	uint64_t features;
	uint64_t journal_id;
	uint64_t acked;
};

struct proto_file_end {
	uint64_t id;
	uint8_t status;
	uint64_t size;
	uint8_t digest[HASH_LEN];
};

struct proto_end_ok {
	uint64_t id;
	uint64_t files, bytes, entries, deletes, errors;
};

/* Table check: 0, or -EBADMSG (unknown type, wrong direction, length out of
 * bounds, unknown flag bits).  dir is the direction the frame travelled. */
int proto_check_frame(const struct wire_hdr *h, enum proto_dir dir);
const char *proto_msg_name(uint8_t type);

/* Encoders append a complete frame (header + payload) to out; errors are
 * latched in out->err. */
void proto_put_hello(struct wbuf *out, const char *mirror, const char *node);
void proto_put_hello_features(struct wbuf *out, const char *mirror, const char *node,
			      uint64_t features);
void proto_put_hello_ok(struct wbuf *out, const struct proto_hello_ok *m);
void proto_put_error(struct wbuf *out, uint32_t code, const char *text);
void proto_put_entry(struct wbuf *out, uint64_t id, const struct entry *e);
void proto_put_entry_flags(struct wbuf *out, uint64_t id, uint8_t flags, const struct entry *e);
void proto_put_path(struct wbuf *out, uint8_t type, uint64_t id, const char *p, size_t len);
void proto_put_rename(struct wbuf *out, uint64_t id, const char *from, size_t flen,
		      const char *to, size_t tlen);
void proto_put_id(struct wbuf *out, uint8_t type, uint64_t id);
void proto_put_chunk(struct wbuf *out, uint8_t type, uint8_t flags, uint64_t id,
		     const void *p, size_t len);
void proto_put_file_end(struct wbuf *out, const struct proto_file_end *m);
void proto_put_need(struct wbuf *out, uint64_t id, uint8_t mode);
void proto_put_done(struct wbuf *out, uint64_t id, int32_t status);
void proto_put_end_ok(struct wbuf *out, const struct proto_end_ok *m);
void proto_put_failed(struct wbuf *out, int32_t status, const char *p, size_t len);
void proto_put_append(struct wbuf *out, const struct proto_append *m);
/* A frame whose payload the caller built (the record batches of
 * restlist.h, and their headers). */
void proto_put_raw(struct wbuf *out, uint8_t type, const void *p, size_t len);

/* Decoders: 0 or -EBADMSG.  Pointers in the results borrow from payload;
 * proto_get_entry copies into ret (caller: entry_clear) and validates paths,
 * type and xattr bounds. */
int proto_get_hello(const uint8_t *p, size_t n, struct proto_hello *ret);
int proto_get_hello_ok(const uint8_t *p, size_t n, struct proto_hello_ok *ret);
int proto_get_error(const uint8_t *p, size_t n, uint32_t *ret_code, const uint8_t **ret_text,
		    size_t *ret_len);
int proto_get_entry(const uint8_t *p, size_t n, uint64_t *ret_id, struct entry *ret);
/* Paths are validated with path_check() and returned as NUL-terminated heap
 * copies the caller frees. */
int proto_get_path(const uint8_t *p, size_t n, uint64_t *ret_id, char **ret_path,
		   size_t *ret_len);
int proto_get_rename(const uint8_t *p, size_t n, uint64_t *ret_id, char **ret_from,
		     size_t *ret_flen, char **ret_to, size_t *ret_tlen);
int proto_get_id(const uint8_t *p, size_t n, uint64_t *ret_id);
int proto_get_chunk(const uint8_t *p, size_t n, uint64_t *ret_id, const uint8_t **ret_data,
		    size_t *ret_len);
int proto_get_file_end(const uint8_t *p, size_t n, struct proto_file_end *ret);
int proto_get_need(const uint8_t *p, size_t n, uint64_t *ret_id, uint8_t *ret_mode);
int proto_get_done(const uint8_t *p, size_t n, uint64_t *ret_id, int32_t *ret_status);
int proto_get_end_ok(const uint8_t *p, size_t n, struct proto_end_ok *ret);
/* *ret_path as proto_get_path's (checked, NUL-terminated, the caller frees). */
int proto_get_failed(const uint8_t *p, size_t n, int32_t *ret_status, char **ret_path,
		     size_t *ret_len);
/* ret->path is a checked heap copy (caller frees it on 0); tail_len must be
 * min(base, PROTO_TAIL_MAX) and base + length must not overflow. */
int proto_get_append(const uint8_t *p, size_t n, struct proto_append *ret);

#endif
