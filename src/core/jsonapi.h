/*
 * jsonapi: JSON:API 1.0 document building with json-c: the top-level
 * envelope, error documents, pagination links and the media-type rules.
 * Pure: no I/O. Every returned json_object is owned by the caller.
 */
#ifndef OES_JSONAPI_H
#define OES_JSONAPI_H

#include <json-c/json.h>

#include "core/query.h"

#define JSONAPI_MEDIA_TYPE "application/vnd.api+json"

/* The reason phrase for an HTTP status ("Not Found"); "Error" if unknown. */
const char *jsonapi_status_title(int status);

/* {"errors":[{"status":"404","title":...,"detail":...,"source":{...}}],
 *  "jsonapi":{"version":"1.0"}}; detail/pointer/parameter may be NULL. */
struct json_object *jsonapi_error_doc(int status, const char *detail, const char *pointer,
				      const char *parameter);

/* {"jsonapi":{"version":"1.0"}} plus data when given (takes ownership). */
struct json_object *jsonapi_doc(struct json_object *data);

struct jw;

/* Writes the members "links" (self, first, last, prev, next) and
 * "meta":{"count"} of a list document (no braces around them). size 0
 * means everything on one page. */
void jsonapi_write_paging(struct jw *w, const char *path, const struct query *q, long count,
			  long number, long size);

/* Parses a whole JSON text strictly (RFC 8259 syntax, valid UTF-8, at most
 * max_depth levels, no NUL inside strings, nothing but white space after the
 * value). NULL when it is not such a text. Caller owns the result. */
struct json_object *jsonapi_parse(const char *text, size_t len, int max_depth);

/* Content negotiation of JSON:API 1.0 for a request's Content-Type (NULL when
 * there is no body) and Accept headers: 0 acceptable, 415 or 406. */
int jsonapi_check_media(const char *content_type, int has_body, const char *accept);

#endif
