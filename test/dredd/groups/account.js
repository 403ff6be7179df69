'use strict';
/*
 * account.js: fixtures of the blueprint group "Account"
 * (docs/api/src/41-account.apib): password change and reset, email
 * verification, logout. Every example runs on the users of world.js.
 *
 * The links a mail would carry hold one-time tokens of which the server
 * keeps only a SHA-256 (table account_tokens). A hook makes a fresh random
 * token, stores its hash for the user as the server's mail task would, and
 * puts the token itself where the example writes "<token of the link>", so
 * that the documented 200 comes from the real token check.
 */
const crypto = require('crypto');
const W = require('./world.js');

const { OWNER, STRANGER } = W;

module.exports = function (h) {
  const users = { tables: ['users'] };

  // Stores a link token for `userId` and writes it into the request body.
  const withLinkToken = (userId, purpose) => async (t) => {
    const token = crypto.randomBytes(32).toString('base64url');
    const hash = crypto.createHash('sha256').update(token).digest('hex');
    const r = await h.sql(
      `INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)
       SELECT $1, id, $3, email, now() + interval '1 hour' FROM users WHERE id = $2
       RETURNING user_id`,
      [hash, userId, purpose],
    );
    if (r.rowCount !== 1) throw new Error(`no user ${userId} to make a ${purpose} token for`);
    if (!t.request.body.includes('<token of the link>')) throw new Error('the example has no "<token of the link>"');
    t.request.body = t.request.body.replace('<token of the link>', token);
  };

  // Fixture users share the admin's password (see world.js).
  const withPasswords = (t) => {
    t.request.body = t.request.body
      .replace('<current password>', h.admin.password)
      .replace('<new password>', `${h.admin.password}-changed`);
  };

  const fail = (t, msg) => {
    t.fail = t.fail ? `${t.fail}; ${msg}` : msg;
  };

  // After a revocation: the token the request carried must be refused, and
  // h.as() must sign the user in afresh for later transactions.
  const usedTokenRefused = (userId) => async (t) => {
    h.forget(userId);
    if (t.fail) return;
    const r = await h.request('GET', `/v1/users/${userId}`, {
      headers: { Authorization: t.request.headers.Authorization },
    });
    if (r.status !== 401) fail(t, `the token used is still accepted (GET /v1/users/${userId}: ${r.status})`);
  };

  W.define(h, {
    'Account > Change password > Change the password > Example 1': {
      ...users,
      as: OWNER,
      setup: withPasswords,
      after: usedTokenRefused(OWNER),
    },
    'Account > Change password > Change the password > Example 2': { ...users, as: OWNER, setup: withPasswords },
    'Account > Reset password > Ask for a reset link': users,
    "Account > Reset password > Set a new password with the link's token > Example 1": {
      ...users,
      setup: async (t) => {
        await withLinkToken(OWNER, 'reset-password')(t);
        withPasswords(t);
      },
      after: () => h.forget(OWNER),
    },
    "Account > Reset password > Set a new password with the link's token > Example 2": {
      ...users,
      setup: withPasswords,
    },
    "Account > Verify email > Verify with the link's token > Example 1": {
      ...users,
      setup: withLinkToken(STRANGER, 'verify-email'),
      after: async (t) => {
        if (t.fail) return;
        const r = await h.sql('SELECT is_verified FROM users WHERE id = $1', [STRANGER]);
        if (!r.rows[0] || r.rows[0].is_verified !== true) fail(t, 'is_verified was not set');
      },
    },
    "Account > Verify email > Verify with the link's token > Example 2": users,
    'Account > Verification email > Send the link again': { ...users, as: STRANGER },
    'Account > Logout > Sign out': { ...users, as: OWNER, after: usedTokenRefused(OWNER) },
  });
};
