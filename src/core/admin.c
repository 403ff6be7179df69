/*
 * admin: `open-event-server create-admin EMAIL`. Reads the password,
 * hashes it (argon2id), and inserts or promotes the user in one statement
 * (an upsert on the live-email unique index, so two runs cannot race into
 * two users).
 *
 * Owns: the password copy (wiped before returning). Never: runs inside the
 * server's loop; prints the password or its hash.
 */
#include "core/admin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/config.h"
#include "core/password.h"

#define EMAIL_MAX_BYTES 320

static const char upsert_sql[] =
    "INSERT INTO users (email, password_hash, is_admin, is_super_admin, is_verified) "
    "VALUES ($1, $2, true, true, true) "
    "ON CONFLICT (lower(email)) WHERE deleted_at IS NULL DO UPDATE SET "
    "password_hash = EXCLUDED.password_hash, is_admin = true, is_super_admin = true, "
    "is_verified = true, is_blocked = false "
    "RETURNING id, (xmax = 0) AS created";

static const char promote_sql[] =
    "UPDATE users SET is_admin = true, is_super_admin = true, is_verified = true, "
    "is_blocked = false WHERE lower(email) = lower($1) AND deleted_at IS NULL RETURNING id";

/* Whether s looks like an address: local@domain, no spaces or controls. */
static int plausible_email(const char *s)
{
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n == 0 || n > EMAIL_MAX_BYTES || !at || at == s || !at[1] || strchr(at + 1, '@'))
		return 0;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			return 0;
	return 1;
}

/* One line of stdin without its line end, echo off on a terminal; NULL on
 * EOF with nothing read. *len gets the length (NUL bytes included). Caller
 * wipes and frees. */
static char *read_password_line(const char *email, size_t *len)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "Password for %s: ", email);
		fflush(stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*len = (size_t)n;
	return line;
}

static void wipe(char *s, size_t n)
{
	if (s) {
		sodium_memzero(s, n);
		free(s);
	}
}

int admin_create_command(const char *email_arg)
{
	/* the address without surrounding blanks */
	while (*email_arg && isspace((unsigned char)*email_arg))
		email_arg++;
	char email[EMAIL_MAX_BYTES + 2];
	snprintf(email, sizeof(email), "%s", email_arg);
	size_t elen = strlen(email);
	while (elen > 0 && isspace((unsigned char)email[elen - 1]))
		email[--elen] = '\0';
	if (!plausible_email(email)) {
		fprintf(stderr, "create-admin: %s is not an email address\n",
			strlen(email_arg) > 80 ? "the argument" : email_arg);
		return 2;
	}

	char *pw = NULL;
	size_t pwlen = 0;
	const char *env = getenv("ADMIN_PASSWORD");
	if (env) {
		pwlen = strlen(env);
		pw = strdup(env);
		if (!pw) {
			fprintf(stderr, "create-admin: out of memory\n");
			return 1;
		}
	} else {
		pw = read_password_line(email, &pwlen);
	}
	if (pw && pwlen == 0) {
		free(pw); /* an empty password means none given */
		pw = NULL;
	}
	if (pw) {
		const char *why = password_problem(pw, pwlen, 1);
		if (why) {
			fprintf(stderr, "create-admin: %s\n", why);
			wipe(pw, pwlen);
			return 2;
		}
	}
	char hash[PASSWORD_HASH_BYTES];
	if (pw) {
		int rc = password_hash(pw, hash);
		wipe(pw, pwlen);
		if (rc < 0) {
			fprintf(stderr, "create-admin: cannot hash the password\n");
			return 1;
		}
	}

	PGconn *c = PQconnectdb(cfg.database_url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "create-admin: cannot connect to the database: %s",
			PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	const char *params[2] = {email, pw ? hash : NULL};
	PGresult *r =
	    PQexecParams(c, pw ? upsert_sql : promote_sql, pw ? 2 : 1, NULL, params, NULL, NULL, 0);
	sodium_memzero(hash, sizeof(hash));
	int rc = 1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "create-admin: %s", PQresultErrorMessage(r));
	} else if (PQntuples(r) == 0) {
		fprintf(stderr,
			"create-admin: no live user has the email %s; give a password "
			"(ADMIN_PASSWORD or stdin) to create one\n",
			email);
	} else {
		const char *id = PQgetvalue(r, 0, 0);
		int created = PQnfields(r) > 1 && PQgetvalue(r, 0, 1)[0] == 't';
		printf("%s\n", id);
		fflush(stdout);
		fprintf(stderr, "create-admin: %s user %s (%s) as super admin%s\n",
			created ? "created" : "promoted", id, email,
			!created && pw ? ", password set" : "");
		rc = 0;
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}
