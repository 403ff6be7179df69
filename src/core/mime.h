/*
 * mime: what a stored file is and what it is called. The content type comes
 * from the bytes (libmagic: one handle, opened and loaded once at start-up,
 * consulted on the first MIME_SNIFF_BYTES of each file), never from the name
 * or the client's claim. File names from clients are sanitised into a name
 * to show (Content-Disposition) and a name for object keys.
 *
 * Owns: the libmagic handle. Never: opens or loads the magic database after
 * start-up; lets two threads use the handle at once (a mutex serialises
 * mime_detect, which may run on any thread: uploads detect on the worker
 * pool); keeps libmagic's returned string (copied at once).
 */
#ifndef OES_MIME_H
#define OES_MIME_H

#include <stddef.h>

#define MIME_SNIFF_BYTES 8192 /* bytes of a file given to libmagic */
#define MIME_TYPE_MAX	 128  /* room for a detected type with its charset */
#define MIME_NAME_MAX	 160  /* bytes of a sanitised file name (UTF-8) */

/* Opens and loads the magic database. 0/-1 (logged). Start-up only. */
int mime_init(void);
void mime_cleanup(void);

/* The content type of data[0..len) from its first MIME_SNIFF_BYTES, into
 * out ("image/png", "text/plain; charset=utf-8"): lower-case, a charset only
 * for text types (us-ascii reported as utf-8), application/octet-stream
 * when libmagic has no answer or the file is empty. Any thread (calls are
 * serialised); after mime_init. */
void mime_detect(const void *data, size_t len, char *out, size_t outlen);

/* Whether a detected type is an image /v1/upload/image takes: PNG, JPEG,
 * GIF, WebP or SVG. */
int mime_is_upload_image(const char *type);

/* The usual extension of a type without the dot ("png"), or NULL. */
const char *mime_extension(const char *type);

/*
 * Sanitises a client's file name (any bytes, len of them):
 * - keeps the part after the last '/' or '\' (no directories);
 * - drops control characters (C0, DEL, C1), bidirectional-text controls
 *   and invalid UTF-8;
 * - collapses runs of dots (no "..") and trims dots and spaces at both ends;
 * - keeps the extension when it is safe (1-16 ASCII letters or digits),
 *   shortening the stem instead, within MIME_NAME_MAX bytes;
 * - names without a dot stay without an extension; an empty result becomes
 *   fallback (e.g. "file").
 * display (UTF-8) gets that name; key (optional) gets the same name with
 * every character outside [A-Za-z0-9._-] replaced by '_', safe in object
 * keys and URLs. Both are NUL-terminated; give each MIME_NAME_MAX + 1
 * bytes.
 */
void mime_sanitise_filename(const char *raw, size_t len, const char *fallback, char *display,
			    size_t displen, char *key, size_t keylen);

/* `attachment; filename="<ASCII name>"`, plus `; filename*=UTF-8''<pct>`
 * when the (sanitised, UTF-8) name is not all ASCII. Caller frees; NULL
 * when memory is short. */
char *mime_content_disposition(const char *display);

#endif
