/*
 * filter: compiles the JSON:API `filter` parameter of the original
 * (flask-rest-jsonapi style: [{"name","op","val"}], {"and":[..]},
 * {"or":[..]}, {"not":{..}}, relationship filters with has/any) into a SQL
 * condition with $n parameters. Names come from the descriptor tables only.
 */
#ifndef OES_FILTER_H
#define OES_FILTER_H

#include <stddef.h>

#include "core/auth.h"
#include "core/resource.h"
#include "core/sqlbuf.h"

/* Appends " AND (<condition>)" for `text` on rows of r aliased `alias`.
 * Related rows in has/any are subject to access_visible for p. Returns 0,
 * or -1 with a message for a 400 in err. */
int filter_sql(const char *text, const struct resource *r, const char *alias,
	       const struct principal *p, struct sqlbuf *b, char *err, size_t errlen);

#endif
