/*
 * sqlbuf: builds one SQL statement and its $n parameters. Text appended
 * with sqlbuf_add comes from the code (descriptor tables, fixed fragments),
 * never from input; input only ever enters as a parameter (sqlbuf_param).
 * Allocation failures are sticky: sqlbuf_failed() tells at the end.
 */
#ifndef OES_SQLBUF_H
#define OES_SQLBUF_H

#include <stddef.h>

#define SQLBUF_MAX_PARAMS 128

struct sqlbuf {
	char *s;			 /* the statement, NUL-terminated */
	size_t len, cap;		 /* used and allocated bytes */
	int nparams;			 /* parameters so far */
	char *params[SQLBUF_MAX_PARAMS]; /* owned copies; NULL is SQL NULL */
	int failed;			 /* an allocation or the parameter limit failed */
};

void sqlbuf_init(struct sqlbuf *b);
void sqlbuf_free(struct sqlbuf *b);
/* Appends trusted text (printf-style). */
void sqlbuf_add(struct sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends len bytes of trusted text. */
void sqlbuf_cat(struct sqlbuf *b, const char *text, size_t len);
/* Adds a parameter (copied; NULL for SQL NULL) and appends "$n". */
void sqlbuf_param(struct sqlbuf *b, const char *value);
/* Same with a length (value need not be NUL-terminated). */
void sqlbuf_param_len(struct sqlbuf *b, const char *value, size_t len);
/* Adds an integer parameter and appends "$n". */
void sqlbuf_param_int(struct sqlbuf *b, long long v);
int sqlbuf_failed(const struct sqlbuf *b);
/* The parameters as libpq wants them. */
const char *const *sqlbuf_params(const struct sqlbuf *b);

#endif
