/*
 * jsonw: appends JSON text to a buffer that grows by doubling.
 */
#include "core/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

void jw_free(struct jw *w)
{
	free(w->s);
	memset(w, 0, sizeof(*w));
}

static int grow(struct jw *w, size_t more)
{
	if (w->failed)
		return -1;
	if (w->len + more + 1 <= w->cap)
		return 0;
	size_t cap = w->cap ? w->cap : 1024;
	while (cap < w->len + more + 1)
		cap *= 2;
	char *s = realloc(w->s, cap);
	if (!s) {
		w->failed = 1;
		return -1;
	}
	w->s = s;
	w->cap = cap;
	return 0;
}

void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap && grow(w, n) < 0)
		return;
	memcpy(w->s + w->len, s, n);
	w->len += n;
}

void jw_str(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* worst case: every byte becomes \u00XX */
	if (grow(w, n * 6 + 2) < 0)
		return;
	char *o = w->s + w->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		/* copy the run of bytes that need no escaping at once */
		size_t j = i;
		while (j < n && (unsigned char)s[j] >= 0x20 && s[j] != '"' && s[j] != '\\')
			j++;
		memcpy(o, s + i, j - i);
		o += j - i;
		if (j == n)
			break;
		i = j;
		unsigned char c = (unsigned char)s[i];
		*o++ = '\\';
		switch (c) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o++ = '"';
	w->len = (size_t)(o - w->s);
}

void jw_cstr(struct jw *w, const char *s)
{
	jw_str(w, s, strlen(s));
}

void jw_int(struct jw *w, long long v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", v);
	jw_raw(w, buf, (size_t)n);
}

const char *jw_text(struct jw *w)
{
	if (grow(w, 0) < 0)
		return NULL;
	w->s[w->len] = '\0';
	return w->s;
}
