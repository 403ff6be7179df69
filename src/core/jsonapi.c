/*
 * jsonapi: builds JSON:API 1.0 envelopes, error documents and pagination
 * links, and applies the media-type rules of content negotiation.
 * Pure functions over json-c objects; the caller owns what they return.
 */
#include "core/jsonapi.h"
#include "core/jsonw.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

struct status_title {
	int status;
	const char *title;
};

static const struct status_title titles[] = {
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {409, "Conflict"},
    {413, "Payload Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Entity"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

const char *jsonapi_status_title(int status)
{
	for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
		if (titles[i].status == status)
			return titles[i].title;
	return "Error";
}

static struct json_object *version_object(void)
{
	struct json_object *v = json_object_new_object();
	json_object_object_add(v, "version", json_object_new_string("1.0"));
	return v;
}

struct json_object *jsonapi_doc(struct json_object *data)
{
	struct json_object *doc = json_object_new_object();
	if (data)
		json_object_object_add(doc, "data", data);
	json_object_object_add(doc, "jsonapi", version_object());
	return doc;
}

struct json_object *jsonapi_error_doc(int status, const char *detail, const char *pointer,
				      const char *parameter)
{
	char code[8];
	snprintf(code, sizeof(code), "%d", status);
	struct json_object *err = json_object_new_object();
	json_object_object_add(err, "status", json_object_new_string(code));
	json_object_object_add(err, "title", json_object_new_string(jsonapi_status_title(status)));
	if (detail)
		json_object_object_add(err, "detail", json_object_new_string(detail));
	if (pointer || parameter) {
		struct json_object *src = json_object_new_object();
		if (pointer)
			json_object_object_add(src, "pointer", json_object_new_string(pointer));
		if (parameter)
			json_object_object_add(src, "parameter", json_object_new_string(parameter));
		json_object_object_add(err, "source", src);
	}
	struct json_object *errors = json_object_new_array();
	json_object_array_add(errors, err);
	struct json_object *doc = json_object_new_object();
	json_object_object_add(doc, "errors", errors);
	json_object_object_add(doc, "jsonapi", version_object());
	return doc;
}

/* Writes "name":"<path?query&page...>". */
static void write_link(struct jw *w, const char *name, const char *path, const struct query *q,
		       long number, long size)
{
	char small[512];
	size_t need = query_link(small, sizeof(small), path, q, number, size);
	char *buf = need < sizeof(small) ? small : malloc(need + 1);
	if (!buf) {
		w->failed = 1;
		return;
	}
	if (buf != small)
		query_link(buf, need + 1, path, q, number, size);
	jw_cstr(w, name);
	jw_raw(w, ":", 1);
	jw_str(w, buf, need);
	if (buf != small)
		free(buf);
}

void jsonapi_write_paging(struct jw *w, const char *path, const struct query *q, long count,
			  long number, long size)
{
	long last = size > 0 ? (count + size - 1) / size : 1;
	if (last < 1)
		last = 1;
	jw_lit(w, "\"links\":{");
	write_link(w, "self", path, q, number, size);
	jw_raw(w, ",", 1);
	write_link(w, "first", path, q, 1, size);
	jw_raw(w, ",", 1);
	write_link(w, "last", path, q, last, size);
	if (number > 1) {
		jw_raw(w, ",", 1);
		write_link(w, "prev", path, q, number - 1 <= last ? number - 1 : last, size);
	}
	if (number < last) {
		jw_raw(w, ",", 1);
		write_link(w, "next", path, q, number + 1, size);
	}
	jw_lit(w, "},\"meta\":{\"count\":");
	jw_int(w, count);
	jw_raw(w, "}", 1);
}

/* Whether [s, s+len) (trimmed) is the JSON:API media type, and whether
 * parameters follow it. Returns 1 if it is the media type. */
static int is_jsonapi_type(const char *s, size_t len, int *has_params)
{
	while (len > 0 && isspace((unsigned char)*s))
		s++, len--;
	size_t mlen = strlen(JSONAPI_MEDIA_TYPE);
	if (len < mlen || strncasecmp(s, JSONAPI_MEDIA_TYPE, mlen) != 0)
		return 0;
	const char *rest = s + mlen;
	size_t rlen = len - mlen;
	while (rlen > 0 && isspace((unsigned char)*rest))
		rest++, rlen--;
	if (rlen > 0 && *rest != ';')
		return 0; /* e.g. application/vnd.api+jsonx */
	*has_params = rlen > 0;
	return 1;
}

int jsonapi_check_media(const char *content_type, int has_body, const char *accept)
{
	if (has_body) {
		int params = 0;
		if (!content_type ||
		    !is_jsonapi_type(content_type, strlen(content_type), &params) || params)
			return 415;
	}
	if (accept && *accept) {
		int seen = 0, plain = 0;
		const char *p = accept;
		while (*p) {
			const char *end = strchr(p, ',');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			int params = 0;
			if (is_jsonapi_type(p, len, &params)) {
				seen = 1;
				if (!params)
					plain = 1;
			}
			p += len;
			if (*p == ',')
				p++;
		}
		if (seen && !plain)
			return 406;
	}
	return 0;
}

/* Whether text holds the escape \u0000 (a NUL inside a string), not
 * counting an escaped backslash before "u0000". */
static int has_escaped_nul(const char *text, size_t len)
{
	for (size_t i = 0; i + 6 <= len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == '\\') {
			i++; /* an escaped backslash */
			continue;
		}
		if (text[i + 1] == 'u' && text[i + 2] == '0' && text[i + 3] == '0' &&
		    text[i + 4] == '0' && text[i + 5] == '0')
			return 1;
	}
	return 0;
}

struct json_object *jsonapi_parse(const char *text, size_t len, int max_depth)
{
	if (!text || len == 0 || len > INT32_MAX || memchr(text, '\0', len) ||
	    has_escaped_nul(text, len))
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(max_depth);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	int ok = o && json_tokener_get_error(tok) == json_tokener_success;
	/* nothing but white space may follow the value */
	for (size_t i = ok ? json_tokener_get_parse_end(tok) : len; i < len && ok; i++)
		ok = text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r';
	json_tokener_free(tok);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
