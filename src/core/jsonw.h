/*
 * jsonw: a direct JSON writer into a growable buffer, for the documents on
 * the hot path (resource objects, lists, compound documents). json-c stays
 * for parsing and for small documents; this writes without building trees.
 * Allocation failures are sticky (jw.failed).
 */
#ifndef OES_JSONW_H
#define OES_JSONW_H

#include <stddef.h>
#include <string.h>

struct jw {
	char *s;	 /* the text so far (not NUL-terminated until jw_cstr_of) */
	size_t len, cap; /* used and allocated bytes */
	int failed;	 /* an allocation failed */
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);
/* Appends n bytes as they are. */
void jw_raw(struct jw *w, const char *s, size_t n);
/* Appends a NUL-terminated string as it is (inline: a literal's length is
 * known when compiling). */
static inline void jw_lit(struct jw *w, const char *s)
{
	jw_raw(w, s, strlen(s));
}
/* Appends a JSON string (quoted, escaped) of n bytes. */
void jw_str(struct jw *w, const char *s, size_t n);
/* Same for a NUL-terminated string. */
void jw_cstr(struct jw *w, const char *s);
/* Appends an integer. */
void jw_int(struct jw *w, long long v);
/* The text, NUL-terminated (NULL after a failure). */
const char *jw_text(struct jw *w);

#endif
