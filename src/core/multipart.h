/*
 * multipart: a streaming multipart/form-data parser (RFC 7578, RFC 2046).
 * Bytes are fed in pieces of any size, split anywhere (inside a boundary,
 * inside a header line, between CR and LF); the parser calls back at the
 * start of each part (with its parsed headers), for each run of its body
 * and at its end.
 *
 * Owns: its state and the headers of the current part. Never: allocates
 * per byte or buffers a part's body (it hands out runs of the input, or of
 * the delimiter when a partial delimiter turned out to be data); does I/O;
 * touches global state (safe on any thread, one parser per thread).
 *
 * Limits: a part's header block is at most MULTIPART_HEADERS_MAX bytes; a
 * boundary 1..MULTIPART_BOUNDARY_MAX bytes without CR, LF or NUL.
 */
#ifndef OES_MULTIPART_H
#define OES_MULTIPART_H

#include <stddef.h>

#define MULTIPART_BOUNDARY_MAX 200
#define MULTIPART_HEADERS_MAX  8192
#define MULTIPART_NAME_MAX     256  /* a field name, decoded */
#define MULTIPART_FILENAME_MAX 1024 /* a file name, decoded (UTF-8 when given as filename*) */
#define MULTIPART_TYPE_MAX     256  /* a part's Content-Type */

/* The headers of one part, as far as form data needs them. */
struct multipart_part {
	int has_disposition;		       /* a Content-Disposition header was present */
	int has_name;			       /* its name parameter was present */
	char name[MULTIPART_NAME_MAX];	       /* the field name */
	int has_filename;		       /* filename (or filename*) was present */
	char filename[MULTIPART_FILENAME_MAX]; /* as sent (filename* decoded); may be empty */
	char content_type[MULTIPART_TYPE_MAX]; /* the client's claim; "" when absent */
};

/* Callbacks return 0 to go on, non-zero to stop the parser (multipart_feed
 * then returns -1 with the error "stopped"). */
struct multipart_callbacks {
	int (*part_begin)(void *arg, const struct multipart_part *part);
	/* A run of the current part's body; data is valid during the call. */
	int (*part_data)(void *arg, const char *data, size_t len);
	int (*part_end)(void *arg);
};

struct multipart;

/* A parser for the given boundary (without the leading "--"). NULL when the
 * boundary is invalid or memory is short. Caller frees with multipart_free. */
struct multipart *multipart_new(const char *boundary, const struct multipart_callbacks *cbs,
				void *arg);
void multipart_free(struct multipart *m);

/* Feeds len bytes. 0, or -1 on a syntax error, an over-long header block or
 * a callback's stop (see multipart_error); after -1 every call fails. */
int multipart_feed(struct multipart *m, const char *data, size_t len);

/* The end of the input: 0 when the closing delimiter was seen, else -1
 * (truncated body). */
int multipart_finish(struct multipart *m);

/* Why the last call failed (a static string), or NULL. */
const char *multipart_error(const struct multipart *m);

/* Number of parts begun so far. */
int multipart_nparts(const struct multipart *m);

/* The boundary parameter of a Content-Type header value such as
 * `multipart/form-data; boundary="a b"`, unquoted, into out. 0, or -1 when
 * the type is not multipart/form-data (-2 when it is but the boundary is
 * missing or invalid). */
int multipart_boundary(const char *content_type, char *out, size_t outlen);

/* A parameter of a header value (`form-data; name="x"; filename*=UTF-8''%C3%A9`):
 * finds `name` (case-insensitive), unquotes quoted strings (backslash escapes
 * only `"` and `\`), and for an extended parameter (`name*`, RFC 8187)
 * percent-decodes it (UTF-8 kept; ISO-8859-1 converted to UTF-8). The
 * result is NUL-terminated and truncated to outlen - 1 bytes. Returns 1
 * when found, 0 when not, -1 when malformed. Exposed for tests. */
int multipart_header_param(const char *value, const char *name, char *out, size_t outlen);

#endif
