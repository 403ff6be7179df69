/*
 * handlers/account: the account lifecycle endpoints of spec §5b, plain JSON
 * in and out (bodies may also wrap their members in "data", as the
 * original's clients send them):
 *
 *   POST  /v1/auth/change-password  {"old-password","new-password"} (signed in)
 *         -> {"access_token", "id", "email", "password-changed": true}; every
 *         token issued before, the one used included, is refused from then on
 *   POST  /v1/auth/reset-password   {"email"} -> always the same 200 (a link
 *         valid one hour is mailed when the address belongs to a live user)
 *   PATCH /v1/auth/reset-password   {"token","password"} -> {"id","email",
 *         "name"}; the token works once; every older token is refused
 *   POST  /v1/auth/verify-email     {"token"} -> {"message"}; sets is-verified
 *   POST  /v1/auth/resend-verification-email (signed in) -> {"message"}
 *   POST  /v1/auth/logout           (signed in) -> {"success": true}; the
 *         token's jti is revoked until the token expires
 *
 * Bad link tokens (unknown, forged, expired, used) get one 400 answer with
 * pointer /token. Password checks count against the sign-in limits
 * (core/ratelimit) like logins do.
 */
#ifndef OES_HANDLERS_ACCOUNT_H
#define OES_HANDLERS_ACCOUNT_H

struct req_ctx;

void account_change_password(struct req_ctx *ctx);
void account_reset_request(struct req_ctx *ctx);
void account_reset_password(struct req_ctx *ctx);
void account_verify_email(struct req_ctx *ctx);
void account_resend_verification(struct req_ctx *ctx);
void account_logout(struct req_ctx *ctx);

/* Mails user_id a verification link (after sign-up): enqueues the mail
 * task, fire and forget. 0, or -1 when the task system refused it. */
int account_send_verification(long long user_id);

#endif
