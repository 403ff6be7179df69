/*
 * mail: the account emails (verification link, password reset link,
 * password-changed notice) as tasks, sent over SMTP with libcurl's multi
 * interface (core/curlm), never on a request's path.
 *
 * A mail is a task `mail.send` whose payload holds only a kind and a user
 * id (or, for a reset, the address asked for); the task loads the user,
 * mints the one-time token of a link itself (only its SHA-256 is stored, in
 * account_tokens), builds a multipart/alternative message (plain text and
 * HTML) and hands it to SMTP_URL. A failed transfer fails the task, which
 * is retried like every task (a retry mints a new link).
 *
 * With SMTP_URL unset nothing is sent: the mail is logged instead, and
 * because the link is the secret, the link itself is logged only at debug
 * level (info says that a mail was not sent, and to which user id).
 *
 * Owns: the SMTP settings, the multi handle of its transfers and each
 * run's message. Never: puts an address with control characters, spaces
 * or angle brackets into an envelope or a header (CR/LF injection); logs a
 * link or token above debug level; blocks the loop.
 */
#ifndef OES_MAIL_H
#define OES_MAIL_H

#include <stddef.h>

struct event_base;

#define MAIL_TASK "mail.send" /* {"kind", "user_id"} or {"kind", "email"} */

/* Kinds of mail. */
#define MAIL_VERIFY_EMAIL     "verify-email"	 /* link: LINK_BASE/verify?token= */
#define MAIL_RESET_PASSWORD   "reset-password"	 /* link: LINK_BASE/reset-password?token= */
#define MAIL_PASSWORD_CHANGED "password-changed" /* a notice, no link */

#include "core/mailaddr.h"

#define MAIL_VERIFY_TTL_S 86400 /* a verification link works for a day */
#define MAIL_RESET_TTL_S  3600	/* a reset link works for an hour (spec §5b) */

/* Registers the task (every process that runs tasks calls it, serve and
 * worker alike) and keeps the settings (copied): smtp_url (NULL or "": log
 * instead of sending; smtp:// or smtps://, credentials in the URL),
 * mail_from (an address, or "Name <address>"; NULL or "": noreply@ the
 * host of link_base), link_base (absolute URL the links start with, e.g.
 * PUBLIC_URL). After tasks_init. 0, or -1 with a logged reason (a bad
 * setting). */
int mail_init(struct event_base *base, const char *smtp_url, const char *mail_from,
	      const char *link_base);
/* Stops transfers in flight (their runs were dropped by tasks_cleanup
 * before) and frees the settings. */
void mail_cleanup(void);

/* Enqueues a mail of kind to user_id (email NULL) or, for a reset, to the
 * live user with that address (user_id 0; an unknown address sends
 * nothing). creator_id: who asked (0: nobody signed in). Fire and forget:
 * 0 when handed to the task system, -1 when refused at once. */
int mail_enqueue(const char *kind, long long user_id, const char *email, long long creator_id);

/* Hex SHA-256 of a link's token, as stored in account_tokens (out: 65
 * bytes). Pure. */
void mail_token_hash(const char *token, size_t len, char out[65]);

#endif
