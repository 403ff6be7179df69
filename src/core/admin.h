/*
 * admin: the `create-admin EMAIL` command. Creates a super admin, or
 * promotes the live user with that email (case-insensitively).
 *
 * A command with no loop: blocking libpq and password hashing are fine here
 * and nowhere else.
 */
#ifndef OES_ADMIN_H
#define OES_ADMIN_H

/* The password comes from ADMIN_PASSWORD or, when that is unset, one line
 * of stdin (echo off on a terminal); an empty one means "none". A new user
 * needs one (8 to 1024 bytes); an existing user keeps theirs when none is
 * given. The user ends up is_admin, is_super_admin, is_verified and not
 * blocked. Prints the user id on stdout and one line on stderr. Needs
 * cfg.database_url. Returns the process exit code: 0 done, 1 database
 * error or no such user to promote, 2 bad email or password. */
int admin_create_command(const char *email);

#endif
