/*
 * query: the request's query string, decoded into key/value pairs, and the
 * JSON:API paging parameters. Pure; caller owns the struct and frees it.
 */
#ifndef OES_QUERY_H
#define OES_QUERY_H

#include <stddef.h>

struct query_param {
	char *key;   /* percent-decoded, owned */
	char *value; /* percent-decoded ("" when absent), owned */
};

struct query {
	struct query_param *items; /* owned array, in order of appearance */
	size_t n;		   /* number of items */
	char *bad;		   /* after a failed query_parse: the offending key, owned */
};

/* Decodes "a=1&b=%20x+y" ('+' is a space). NULL or "" gives an empty query;
 * "k" gives value ""; empty pairs ("a=1&&b=2") are skipped. Returns -1 on a
 * malformed escape ("%zz", "%4") or an embedded NUL (%00), after freeing the
 * pairs it built; *bad_key (if not NULL) then names the offending key
 * (decoded, or as sent when the key itself is malformed) and points to
 * q->bad. Call query_free after either outcome (it frees q->bad too). */
int query_parse(struct query *q, const char *qs, const char **bad_key);
/* The first value for key, or NULL. */
const char *query_get(const struct query *q, const char *key);
/* Frees everything q owns and empties it; safe to call twice. */
void query_free(struct query *q);

/* Reads page[size] (default 20) and page[number] (default 1).
 * page[size]=0 means "all rows" and is returned as 0; sizes above max are
 * refused. Returns 0, or -1 with *bad naming the parameter ("page[size]" or
 * "page[number]"). */
int query_page(const struct query *q, int max_size, long *size, long *number, const char **bad);

/* Percent-encodes src for a query string component into out (NUL-terminated).
 * Returns the length it needed (like snprintf). */
size_t query_escape(char *out, size_t outlen, const char *src);

/* Writes "path?k=v&...&page[number]=N&page[size]=S" into out: every parameter
 * of q except page[number]/page[size], in order, escaped, then the page.
 * page_size 0 writes no page parameters. Returns needed length. */
size_t query_link(char *out, size_t outlen, const char *path, const struct query *q, long number,
		  long size);

#endif
