/*
 * sqlbuf: a growable statement buffer with owned parameters.
 */
#include "core/sqlbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sqlbuf_init(struct sqlbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void sqlbuf_free(struct sqlbuf *b)
{
	for (int i = 0; i < b->nparams; i++)
		free(b->params[i]);
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static int reserve(struct sqlbuf *b, size_t more)
{
	if (b->failed)
		return -1;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->failed = 1;
		return -1;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

void sqlbuf_add(struct sqlbuf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	/* no directive: a plain copy */
	if (!strchr(fmt, '%')) {
		sqlbuf_cat(b, fmt, strlen(fmt));
		return;
	}
	if (reserve(b, 64) < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		/* did not fit: grow and format again */
		if (reserve(b, (size_t)n) < 0)
			return;
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void sqlbuf_cat(struct sqlbuf *b, const char *text, size_t len)
{
	if (reserve(b, len) < 0)
		return;
	memcpy(b->s + b->len, text, len);
	b->len += len;
	b->s[b->len] = '\0';
}

void sqlbuf_param_len(struct sqlbuf *b, const char *value, size_t len)
{
	if (b->failed)
		return;
	if (b->nparams >= SQLBUF_MAX_PARAMS) {
		b->failed = 1;
		return;
	}
	char *copy = NULL;
	if (value) {
		if (!(copy = malloc(len + 1))) {
			b->failed = 1;
			return;
		}
		memcpy(copy, value, len);
		copy[len] = '\0';
	}
	b->params[b->nparams++] = copy;
	sqlbuf_add(b, "$%d", b->nparams);
}

void sqlbuf_param(struct sqlbuf *b, const char *value)
{
	sqlbuf_param_len(b, value, value ? strlen(value) : 0);
}

void sqlbuf_param_int(struct sqlbuf *b, long long v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", v);
	sqlbuf_param(b, buf);
}

int sqlbuf_failed(const struct sqlbuf *b)
{
	return b->failed || !b->s;
}

const char *const *sqlbuf_params(const struct sqlbuf *b)
{
	return (const char *const *)b->params;
}
