/*
 * dataurl: decodes `data:[<media type>][;param=value]*[;base64],<data>`
 * URLs (RFC 2397), as /v1/upload/image receives them. Base64 payloads may
 * be padded or not, standard or URL-safe, with whitespace (skipped);
 * payloads without ;base64 are percent-decoded.
 *
 * The declared media type is reported but is only the client's claim:
 * callers detect the real type from the bytes (core/mime.h).
 *
 * Pure: no global state, safe on any thread (libsodium's base64 decoder
 * needs no sodium_init).
 */
#ifndef OES_DATAURL_H
#define OES_DATAURL_H

#include <stddef.h>

enum dataurl_status {
	DATAURL_OK = 0,
	DATAURL_ERR_SYNTAX = -1,  /* not a data URL, or bad base64 / percent-encoding */
	DATAURL_ERR_TOO_BIG = -2, /* the decoded payload would exceed the limit */
	DATAURL_ERR_NOMEM = -3,	  /* out of memory */
};

struct dataurl {
	char type[128];	     /* declared media type, lower-case, no parameters; "" when absent */
	int base64;	     /* the payload was base64 */
	unsigned char *data; /* decoded bytes (malloc'd, never NULL on success), caller frees */
	size_t len;	     /* their length */
};

/* Decodes s[0..len) into out. Decoded payloads over max_bytes are refused
 * with DATAURL_ERR_TOO_BIG before any decoding. Returns enum dataurl_status;
 * on failure out->data is NULL. */
int dataurl_decode(const char *s, size_t len, size_t max_bytes, struct dataurl *out);

/* Frees out->data (safe on a zeroed or failed struct). */
void dataurl_free(struct dataurl *d);

#endif
