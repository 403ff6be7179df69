/*
 * query: decoding of a request's query string into ordered key/value pairs,
 * the JSON:API paging parameters, and the escaping used to build links.
 *
 * Owns: the pairs' strings (each key and value is its own allocation) and,
 * after a failed parse, the copy of the offending key in q->bad.
 * Never: does I/O, keeps state between calls, or accepts an embedded NUL
 * (a "%00" would cut a value short in C and in libpq).
 */
#include "core/query.h"

#include <stdlib.h>
#include <string.h>

/* The largest page[number]: keeps (number - 1) * size far from overflow. */
#define QUERY_PAGE_NUMBER_MAX 2147483647L

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) into a new string ('+' is a space). NULL on a malformed
 * escape, %00 or no memory; *malformed tells which. Caller frees. */
static char *decode(const char *s, size_t len, int *malformed)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	*malformed = 0;
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (len - i < 3) /* fewer than two characters follow */
				goto bad;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
bad:
	*malformed = 1;
	free(out);
	return NULL;
}

static char *copy_n(const char *s, size_t len)
{
	char *out = malloc(len + 1);

	if (out != NULL) {
		memcpy(out, s, len);
		out[len] = '\0';
	}
	return out;
}

static void free_items(struct query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->items[i].key);
		free(q->items[i].value);
	}
	free(q->items);
	q->items = NULL;
	q->n = 0;
}

void query_free(struct query *q)
{
	if (q == NULL)
		return;
	free_items(q);
	free(q->bad);
	q->bad = NULL;
}

/* Appends one pair, taking ownership of key and value (freed on error). */
static int push(struct query *q, size_t *cap, char *key, char *value)
{
	if (q->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct query_param *items = realloc(q->items, ncap * sizeof(*items));

		if (items == NULL) {
			free(key);
			free(value);
			return -1;
		}
		q->items = items;
		*cap = ncap;
	}
	q->items[q->n].key = key;
	q->items[q->n].value = value;
	q->n++;
	return 0;
}

int query_parse(struct query *q, const char *qs, const char **bad_key)
{
	size_t cap = 0;
	const char *p = qs;

	q->items = NULL;
	q->n = 0;
	q->bad = NULL;
	if (bad_key != NULL)
		*bad_key = NULL;
	if (qs == NULL)
		return 0;
	while (*p != '\0') {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char *key, *value;
		int malformed;

		if (len > 0) {
			key = decode(p, klen, &malformed);
			if (key == NULL) {
				if (malformed)
					q->bad = copy_n(p, klen);
				goto fail;
			}
			if (eq != NULL)
				value = decode(eq + 1, len - klen - 1, &malformed);
			else
				value = calloc(1, 1);
			if (value == NULL) {
				if (malformed)
					q->bad = key;
				else
					free(key);
				goto fail;
			}
			if (push(q, &cap, key, value) < 0)
				goto fail;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
fail:
	free_items(q);
	if (bad_key != NULL)
		*bad_key = q->bad;
	return -1;
}

const char *query_get(const struct query *q, const char *key)
{
	size_t i;

	if (q == NULL || key == NULL)
		return NULL;
	for (i = 0; i < q->n; i++)
		if (strcmp(q->items[i].key, key) == 0)
			return q->items[i].value;
	return NULL;
}

/* Parses a non-empty run of decimal digits up to max; 0/-1. */
static int parse_bounded(const char *s, long max, long *out)
{
	long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

int query_page(const struct query *q, int max_size, long *size, long *number, const char **bad)
{
	const char *v;
	long s = 20, n = 1;

	if (bad != NULL)
		*bad = NULL;
	v = query_get(q, "page[size]");
	if (v != NULL && parse_bounded(v, max_size < 0 ? 0 : max_size, &s) < 0) {
		if (bad != NULL)
			*bad = "page[size]";
		return -1;
	}
	v = query_get(q, "page[number]");
	if (v != NULL && (parse_bounded(v, QUERY_PAGE_NUMBER_MAX, &n) < 0 || n < 1)) {
		if (bad != NULL)
			*bad = "page[number]";
		return -1;
	}
	*size = s;
	*number = n;
	return 0;
}

/* An output buffer that counts what it would need, like snprintf. */
struct out {
	char *buf;   /* destination, may be NULL when cap is 0 */
	size_t cap;  /* bytes available including the NUL */
	size_t need; /* bytes written or that would have been */
};

static void out_char(struct out *o, char c)
{
	if (o->cap > 0 && o->need + 1 < o->cap)
		o->buf[o->need] = c;
	o->need++;
}

static void out_str(struct out *o, const char *s)
{
	for (; *s != '\0'; s++)
		out_char(o, *s);
}

static void out_escaped(struct out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out_char(o, (char)c);
		} else {
			out_char(o, '%');
			out_char(o, hex[c >> 4]);
			out_char(o, hex[c & 15]);
		}
	}
}

static void out_long(struct out *o, long v)
{
	char tmp[24];
	int i = 0;
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

	if (v < 0)
		out_char(o, '-');
	do {
		tmp[i++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	while (i > 0)
		out_char(o, tmp[--i]);
}

static void out_finish(struct out *o)
{
	if (o->cap == 0)
		return;
	o->buf[o->need < o->cap ? o->need : o->cap - 1] = '\0';
}

size_t query_escape(char *out, size_t outlen, const char *src)
{
	struct out o = {out, outlen, 0};

	out_escaped(&o, src ? src : "");
	out_finish(&o);
	return o.need;
}

size_t query_link(char *out, size_t outlen, const char *path, const struct query *q, long number,
		  long size)
{
	struct out o = {out, outlen, 0};
	char sep = '?';
	size_t i;

	out_str(&o, path ? path : "");
	for (i = 0; q != NULL && i < q->n; i++) {
		const struct query_param *p = &q->items[i];

		if (strcmp(p->key, "page[number]") == 0 || strcmp(p->key, "page[size]") == 0)
			continue;
		out_char(&o, sep);
		sep = '&';
		out_escaped(&o, p->key);
		out_char(&o, '=');
		out_escaped(&o, p->value);
	}
	if (size != 0) {
		out_char(&o, sep);
		out_escaped(&o, "page[number]");
		out_char(&o, '=');
		out_long(&o, number);
		out_char(&o, '&');
		out_escaped(&o, "page[size]");
		out_char(&o, '=');
		out_long(&o, size);
	}
	out_finish(&o);
	return o.need;
}
