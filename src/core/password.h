/*
 * password: argon2id password hashes (libsodium) with at least OWASP's
 * parameters (19 MiB, 2 passes, 1 lane), and the length rules of passwords.
 *
 * Blocking and CPU-heavy (tens of milliseconds): call only from worker
 * threads (core/workers.h) or from a command that has no loop. Thread-safe.
 * Never: logs a password or a hash.
 */
#ifndef OES_PASSWORD_H
#define OES_PASSWORD_H

#include <stddef.h>

#include <sodium.h>

#define PASSWORD_MAX_BYTES  1024 /* longer passwords are refused (spec §5) */
#define PASSWORD_MIN_CHARS  8	 /* for new passwords only; login takes any length */
#define PASSWORD_HASH_BYTES crypto_pwhash_STRBYTES
#define PASSWORD_OPSLIMIT   2ULL		  /* argon2id passes (t=2) */
#define PASSWORD_MEMLIMIT   (19ULL * 1024 * 1024) /* 19 MiB (m=19456) */

/* Hashes pw (NUL-terminated) into out ("$argon2id$v=19$m=19456,t=2,p=1$...").
 * 0/-1 (out of memory). */
int password_hash(const char *pw, char out[PASSWORD_HASH_BYTES]);

/* 1 when pw matches hash (an argon2id string as made by password_hash), 0
 * when it does not or hash is NULL, malformed or not argon2id. Takes about
 * the time of one hash. */
int password_verify(const char *hash, const char *pw);

/* Verifies pw against a hash of a random password made once per process:
 * always 0, and takes the time of a real verify (for unknown users). */
int password_verify_dummy(const char *pw);

/* Why a password of len bytes is unacceptable, or NULL when it is fine:
 * longer than PASSWORD_MAX_BYTES, containing NUL, or (is_new: a password
 * being set, not one being checked) shorter than PASSWORD_MIN_CHARS UTF-8
 * characters. The reason is a static string, fit for a 422 detail. */
const char *password_problem(const char *pw, size_t len, int is_new);

#endif
