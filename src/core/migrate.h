/*
 * migrate: the schema migrations embedded in the binary (sql/NNN_*.sql),
 * applied in order under an advisory lock and recorded in
 * schema_migrations. Blocking libpq: only for the `migrate` command and
 * start-up checks, never on the loop.
 */
#ifndef OES_MIGRATE_H
#define OES_MIGRATE_H

#include <stddef.h>

struct migration {
	const char *version; /* "001" */
	const char *name;    /* "001_schema.sql" */
	const char *sql;     /* the file's text */
};

extern const struct migration migrations[];
extern const int nmigrations;

/* Applies pending migrations. 0, or -1 with a message in err. */
int migrate_run(const char *conninfo, char *err, size_t errlen);
/* Counts pending migrations and writes their names (comma-separated) into
 * names. Returns the count, or -1 with a message in err. */
int migrate_pending(const char *conninfo, char *names, size_t nameslen, char *err, size_t errlen);

#endif
