/*
 * handlers/auth: the sign-in endpoints, `POST /v1/auth/login` and its alias
 * `POST /auth/session` (plain JSON in and out, spec §5).
 */
#ifndef OES_HANDLERS_AUTH_H
#define OES_HANDLERS_AUTH_H

struct req_ctx;

/* {"email","password"} -> 200 {"access_token"}; 401 for wrong credentials
 * (the same body for an unknown email, a wrong password and a blocked
 * user); 400/422 for bad input; 503 when the password workers are full.
 * The password is checked on the worker pool, never on the loop. */
void auth_login(struct req_ctx *ctx);

#endif
