/*
 * password: argon2id hashing and verification through libsodium, plus the
 * dummy hash that makes a login for an unknown email cost as much as one
 * for a known email.
 *
 * Owns: the dummy hash (made once, under pthread_once). Never: runs on the
 * loop thread of a server, keeps a password after returning.
 */
#include "core/password.h"

#include <pthread.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int sodium_ok;
static char dummy_hash[PASSWORD_HASH_BYTES];
static int dummy_ok;

static void init(void)
{
	sodium_ok = sodium_init() >= 0;
	if (!sodium_ok)
		return;
	unsigned char raw[32];
	char pw[2 * sizeof(raw) + 1];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(pw, sizeof(pw), raw, sizeof(raw));
	dummy_ok =
	    crypto_pwhash_str_alg(dummy_hash, pw, strlen(pw), PASSWORD_OPSLIMIT,
				  (size_t)PASSWORD_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) == 0;
	sodium_memzero(pw, sizeof(pw));
}

int password_hash(const char *pw, char out[PASSWORD_HASH_BYTES])
{
	pthread_once(&init_once, init);
	if (!sodium_ok)
		return -1;
	return crypto_pwhash_str_alg(out, pw, strlen(pw), PASSWORD_OPSLIMIT,
				     (size_t)PASSWORD_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) == 0
		   ? 0
		   : -1;
}

int password_verify(const char *hash, const char *pw)
{
	pthread_once(&init_once, init);
	if (!sodium_ok)
		return 0;
	/* only our own kind of hash; anything else costs a dummy verify */
	if (!hash || strncmp(hash, "$argon2id$", 10) != 0 ||
	    strnlen(hash, PASSWORD_HASH_BYTES) >= PASSWORD_HASH_BYTES)
		return password_verify_dummy(pw);
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

int password_verify_dummy(const char *pw)
{
	pthread_once(&init_once, init);
	/* the result is meaningless (nobody knows the dummy's password) */
	if (sodium_ok && dummy_ok && crypto_pwhash_str_verify(dummy_hash, pw, strlen(pw)) == 0)
		return 0;
	return 0;
}

const char *password_problem(const char *pw, size_t len, int is_new)
{
	if (len > PASSWORD_MAX_BYTES)
		return "The password is longer than 1024 bytes.";
	if (memchr(pw, '\0', len))
		return "The password contains a NUL character.";
	if (is_new) {
		size_t chars = 0;
		for (size_t i = 0; i < len; i++)
			chars += ((unsigned char)pw[i] & 0xC0) != 0x80; /* not a continuation */
		if (chars < PASSWORD_MIN_CHARS)
			return "The password is shorter than 8 characters.";
	}
	return NULL;
}
