/*
 * migrate: applies the embedded migrations one transaction each, under a
 * PostgreSQL advisory lock so that concurrent `migrate` runs serialise.
 * Blocking; never called on the event loop.
 */
#include "core/migrate.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#define MIGRATE_LOCK_KEY 7431020815L /* arbitrary, constant */

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static void quiet_notice(void *arg, const char *msg)
{
	(void)arg, (void)msg;
}

static PGconn *connect_db(const char *conninfo, char *err, size_t errlen)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
}

/* Whether version is recorded; -1 on error. */
static int applied(PGconn *c, const char *version, int table_exists)
{
	if (!table_exists)
		return 0;
	const char *params[1] = {version};
	PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
				   params, NULL, NULL, 0);
	int res = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) > 0 : -1;
	PQclear(r);
	return res;
}

static int table_exists(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT to_regclass('public.schema_migrations') IS NOT NULL");
	int res = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return res;
}

int migrate_run(const char *conninfo, char *err, size_t errlen)
{
	PGconn *c = connect_db(conninfo, err, errlen);
	if (!c)
		return -1;
	char lock[96];
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%ld)", MIGRATE_LOCK_KEY);
	int rc = -1;
	if (exec_ok(c, lock, err, errlen) < 0)
		goto out;
	if (exec_ok(c,
		    "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
		    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		    err, errlen) < 0)
		goto unlock;
	for (int i = 0; i < nmigrations; i++) {
		const struct migration *m = &migrations[i];
		int a = applied(c, m->version, 1);
		if (a < 0) {
			snprintf(err, errlen, "cannot read schema_migrations: %s",
				 PQerrorMessage(c));
			goto unlock;
		}
		if (a)
			continue;
		char e[512];
		if (exec_ok(c, "BEGIN", e, sizeof(e)) < 0 || exec_ok(c, m->sql, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "migration %s failed: %s", m->name, e);
			PQclear(PQexec(c, "ROLLBACK"));
			goto unlock;
		}
		const char *params[2] = {m->version, m->name};
		PGresult *r = PQexecParams(c,
					   "INSERT INTO schema_migrations (version, name) "
					   "VALUES ($1, $2)",
					   2, NULL, params, NULL, NULL, 0);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok || exec_ok(c, "COMMIT", e, sizeof(e)) < 0) {
			snprintf(err, errlen, "recording migration %s failed: %s", m->name,
				 PQerrorMessage(c));
			PQclear(PQexec(c, "ROLLBACK"));
			goto unlock;
		}
		fprintf(stderr, "applied migration %s\n", m->name);
	}
	rc = 0;
unlock:
	PQclear(PQexec(c, "SELECT pg_advisory_unlock_all()"));
out:
	PQfinish(c);
	return rc;
}

int migrate_pending(const char *conninfo, char *names, size_t nameslen, char *err, size_t errlen)
{
	PGconn *c = connect_db(conninfo, err, errlen);
	if (!c)
		return -1;
	int exists = table_exists(c);
	int count = 0;
	size_t used = 0;
	names[0] = '\0';
	for (int i = 0; i < nmigrations; i++) {
		int a = applied(c, migrations[i].version, exists);
		if (a < 0) {
			snprintf(err, errlen, "cannot read schema_migrations: %s",
				 PQerrorMessage(c));
			PQfinish(c);
			return -1;
		}
		if (a)
			continue;
		count++;
		int n = snprintf(names + used, nameslen - used, "%s%s", used ? ", " : "",
				 migrations[i].name);
		if (n > 0 && (size_t)n < nameslen - used)
			used += (size_t)n;
	}
	PQfinish(c);
	return count;
}
