'use strict';
/*
 * hooks.js: Dredd hooks of the contract tests. test/dredd/run.sh runs Dredd
 * over docs/api/build/api.apib with this file (--language=nodejs, so the
 * hooks run inside Dredd's own process).
 *
 * What it does, around every transaction (one documented request/response):
 *   beforeAll   connects to the test database (DATABASE_URL), learns its
 *               tables, foreign keys and identity sequences, builds the reset
 *               statement, checks that every hook name is a transaction name,
 *               and creates and logs in the test admin (see ADMIN below).
 *   beforeEach  resets the database to the static seed plus the admin (see
 *               RESET below) and times it.
 *   before X    the fixtures that transaction X needs (test/dredd/groups/).
 *   afterEach   checks beyond Gavel's (see CHECKS below): JSON:API 1.0 schema
 *               of every application/vnd.api+json body, exact values of some
 *               headers, X-Request-Id on every response, error statuses.
 *   afterAll    prints the reset times (median, max) and every skipped
 *               transaction with its reason.
 *
 * Per-transaction hooks live in test/dredd/groups/<group>.js, one file per
 * blueprint group; each exports `function (h)` and registers its hooks with
 * the helpers of `h` (below). Dredd silently ignores a hook whose name
 * matches no transaction, so this file fails every transaction of the run
 * when a registered name is unknown: a renamed action cannot quietly lose
 * its fixtures.
 *
 * Environment (set by run.sh): DATABASE_URL (required unless DREDD_NAMES_ONLY
 * is set), OES_SERVER_URL (the server under test), OES_BIN (the server
 * binary, for create-admin), RESET_METHOD (delete, the default, or
 * truncate), DREDD_NAMES_ONLY=1 (check hook names only, no database).
 *
 * Never does: terminate or disturb the server's database connections (a
 * reset is ordinary DELETE/TRUNCATE statements on one connection of its own),
 * or touch the tables `roles` and `schema_migrations` (static seed).
 */

const hooks = require('hooks');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawnSync } = require('child_process');

// Tables that hold the static seed from sql/ and are never reset.
const STATIC_TABLES = ['roles', 'schema_migrations'];
// Headers whose documented value must be the real value (Gavel checks the
// values of Content-Type and Accept* only, and the mere presence of others).
const EXACT_HEADERS = [
  'allow',
  'vary',
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'content-security-policy',
];
const JSONAPI_TYPE = 'application/vnd.api+json';

const NAMES_ONLY = !!process.env.DREDD_NAMES_ONLY;
const RESET_METHOD = process.env.RESET_METHOD || 'delete';

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

const state = {
  db: null, // pg.Client of the hooks (never one of the server's)
  reset: null, // the reset statement (one simple-protocol query string)
  seeds: [], // [{table, rows}] re-inserted by every reset
  resetMs: [], // duration of every reset, in ms
  fatal: null, // set when the run cannot be trusted: fails every transaction
  used: new Map(), // hook name -> where it was registered
  skips: new Map(), // transaction name -> reason
  skipped: [], // [name, reason] of the transactions actually skipped
  unexplained: [], // names of transactions skipped without h.skip()
  admin: null, // {id, email, password, passwordHash, token} once create-admin exists
  tokens: new Map(), // user id -> token of fixture users signed in by h.as()
};

function fail(t, msg) {
  t.fail = t.fail ? `${t.fail}; ${msg}` : msg;
}

// Runs an async hook body inside Dredd's callback API. Dredd ignores errors
// passed to `done`, so an error fails the transaction instead.
function asyncHook(label, fn) {
  return (t, done) => {
    if (NAMES_ONLY || state.fatal) return done(); // nothing runs: see beforeEach
    Promise.resolve()
      .then(() => fn(t))
      .then(
        () => done(),
        (err) => {
          fail(t, `${label}: ${err && err.stack ? err.stack : err}`);
          done();
        },
      );
  };
}

// ---------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------

const qi = (name) => '"' + String(name).replace(/"/g, '""') + '"';
const ql = (text) => "'" + String(text).replace(/'/g, "''") + "'";

async function sql(text, params) {
  if (!state.db) throw new Error('no database connection (DATABASE_URL unset?)');
  return state.db.query(text, params);
}

// Learns the tables to reset, the order to empty them in (referencing tables
// before the tables they reference) and their identity/serial sequences.
async function discoverSchema() {
  const tables = (
    await sql(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public'
        AND tablename <> ALL($1) ORDER BY tablename`,
      [STATIC_TABLES],
    )
  ).rows.map((r) => r.tablename);
  const fks = (
    await sql(
      `SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE c.contype = 'f' AND n.nspname = 'public'`,
    )
  ).rows.map((r) => ({ child: r.child.replace(/^"|"$/g, ''), parent: r.parent.replace(/^"|"$/g, '') }));
  const seqs = (
    await sql(
      `SELECT t.relname AS table, s.relname AS seq
         FROM pg_depend d
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
         JOIN pg_class t ON t.oid = d.refobjid
         JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.deptype IN ('a', 'i') AND n.nspname = 'public'
        ORDER BY 1, 2`,
    )
  ).rows;

  const reset = new Set(tables);
  // A static table that references a reset table would lose rows (CASCADE)
  // or block the reset: refuse instead of guessing.
  for (const { child, parent } of fks) {
    if (!reset.has(child) && reset.has(parent)) {
      throw new Error(`static table ${child} references ${parent}, which every reset empties`);
    }
  }
  // Children first (Kahn's algorithm on "child references parent").
  const edges = fks.filter((e) => reset.has(e.child) && reset.has(e.parent) && e.child !== e.parent);
  const order = [];
  const left = new Set(tables);
  while (left.size) {
    const ready = [...left].filter((t) => !edges.some((e) => e.parent === t && left.has(e.child)));
    if (!ready.length) return { tables, order: null, seqs }; // a cycle: TRUNCATE only
    ready.sort();
    for (const t of ready) {
      order.push(t);
      left.delete(t);
    }
  }
  return { tables, order, seqs: seqs.filter((s) => reset.has(s.table)) };
}

// RESET: one simple-protocol query (one round trip, one implicit
// transaction) that empties every table but the static ones, restarts every
// identity sequence, re-inserts the seed rows (the admin), moves the seeded
// tables' sequences past them (users continue at 2), and finally names any
// table that is not as seeded (which fails the transaction: a reset that
// leaves rows behind would make the next transaction's result depend on the
// one before).
//
// Two ways to empty the tables, same result:
//   delete    (default) DELETE FROM each table, referencing tables first,
//             then setval(seq, 1, false) for every sequence. Measured on the
//             2-core test machines with 16 tables: median 2-5 ms.
//   truncate  one TRUNCATE <all> RESTART IDENTITY CASCADE. Simpler, but each
//             truncated table and index gets new files: median 8-16 ms, over
//             the 10 ms budget. Used anyway when the foreign keys form a
//             cycle (no order to DELETE in).
// Neither disturbs the server: no connection is terminated, and the locks
// are held only for the reset itself (it runs between transactions, when the
// server has no query in flight).
function buildReset(schema, seeds) {
  const stmts = [];
  let method = RESET_METHOD;
  if (method === 'delete' && !schema.order) method = 'truncate';
  if (method === 'truncate') {
    stmts.push(`TRUNCATE ${schema.tables.map(qi).join(', ')} RESTART IDENTITY CASCADE`);
  } else if (method === 'delete') {
    for (const t of schema.order) stmts.push(`DELETE FROM ${qi(t)}`);
    if (schema.seqs.length) {
      stmts.push('SELECT ' + schema.seqs.map((s) => `setval(${ql(qi(s.seq))}, 1, false)`).join(', '));
    }
  } else {
    throw new Error(`RESET_METHOD must be delete or truncate, not ${RESET_METHOD}`);
  }
  const seeded = new Map();
  for (const { table, rows } of seeds) {
    if (!rows.length) continue;
    stmts.push(...insertStatements(table, rows));
    seeded.set(table, (seeded.get(table) || 0) + rows.length);
  }
  for (const s of schema.seqs) {
    if (seeded.has(s.table)) {
      stmts.push(`SELECT setval(${ql(qi(s.seq))}, (SELECT max(id) FROM ${qi(s.table)}))`);
    }
  }
  const checks = schema.tables.map((t) => {
    const want = seeded.get(t) || 0;
    return `CASE WHEN (SELECT count(*) FROM ${qi(t)}) <> ${want} THEN ${ql(t)} END`;
  });
  stmts.push(`SELECT array_remove(ARRAY[${checks.join(', ')}]::text[], NULL) AS dirty`);
  return { text: stmts.join(';\n'), method };
}

async function resetDatabase() {
  const t0 = process.hrtime.bigint();
  const results = await state.db.query(state.reset.text);
  state.resetMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  const last = Array.isArray(results) ? results[results.length - 1] : results;
  const dirty = last.rows[0].dirty;
  if (dirty.length) throw new Error(`reset left these tables not as seeded: ${dirty.join(', ')}`);
}

// INSERT statements for rows (objects keyed by column name): one per set of
// keys, naming those columns, so that columns a row leaves out get their
// defaults (json_populate_recordset alone would make them NULL).
function insertStatements(table, rows) {
  const groups = new Map();
  for (const row of rows) {
    const cols = Object.keys(row).sort();
    const key = cols.join(',');
    if (!groups.has(key)) groups.set(key, { cols, rows: [] });
    groups.get(key).rows.push(row);
  }
  return [...groups.values()].map(({ cols, rows: rs }) => {
    const list = cols.map(qi).join(', ');
    return (
      `INSERT INTO ${qi(table)} (${list}) SELECT ${list}` +
      ` FROM json_populate_recordset(NULL::${qi(table)}, ${ql(JSON.stringify(rs))})`
    );
  });
}

// Inserts fixture rows into one table and moves the table's identity
// sequence past the highest id, so that objects the transaction creates get
// the next ids. One round trip.
async function insert(table, rows) {
  const stmts = insertStatements(table, rows);
  const seq = state.schema.seqs.find((s) => s.table === table);
  if (seq) stmts.push(`SELECT setval(${ql(qi(seq.seq))}, (SELECT max(id) FROM ${qi(table)}))`);
  await state.db.query(stmts.join(';\n'));
}

// ---------------------------------------------------------------------------
// HTTP (for hooks that need the server before a transaction: logging in,
// reading an ETag)
// ---------------------------------------------------------------------------

function request(method, urlPath, { headers = {}, body } = {}) {
  const base = process.env.OES_SERVER_URL;
  if (!base) return Promise.reject(new Error('OES_SERVER_URL is not set'));
  const url = new URL(urlPath, base);
  let payload;
  if (body !== undefined) {
    payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    headers = { 'Content-Length': payload.length, ...headers };
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: 30000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch (e) {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

// ---------------------------------------------------------------------------
// ADMIN: the test admin, user 1, and its token.
//
// Activates by itself when the server binary has the `create-admin` command,
// which is detected by `OES_BIN --help` mentioning it. A binary without it
// (older builds) gives a run without admin: h.admin is null and h.asAdmin()
// fails the transaction that needs it. With it: the first reset empties
// users; `OES_BIN create-admin EMAIL` (password from ADMIN_PASSWORD, random
// per run: no known password exists anywhere) creates the admin, which must
// get id 1; its row becomes part of the seed that every reset re-inserts
// (same user, same password hash: the token stays valid across resets) and
// users continue at id 2; one POST /v1/auth/login gives the token that
// h.asAdmin() puts into requests.
//
// A transaction must not log the admin out, block it or change its password:
// the server may remember that in memory beyond the reset. Such transactions
// create a user of their own.
// ---------------------------------------------------------------------------

function hasCreateAdmin(bin) {
  const r = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 60000 });
  return r.status === 0 && /\bcreate-admin\b/.test(`${r.stdout}${r.stderr}`);
}

async function setUpAdmin() {
  const bin = process.env.OES_BIN;
  if (!bin || !hasCreateAdmin(bin)) {
    console.log('dredd hooks: the server has no create-admin command yet: no test admin');
    return;
  }
  const email = 'admin@dredd.test';
  const password = crypto.randomBytes(24).toString('base64url');
  const r = spawnSync(bin, ['create-admin', email], {
    encoding: 'utf8',
    timeout: 120000,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ADMIN_PASSWORD: password },
  });
  if (r.status !== 0) {
    throw new Error(`create-admin exited with ${r.status}: ${r.stderr || r.stdout}`);
  }
  const rows = (await sql('SELECT row_to_json(u) AS row FROM users u ORDER BY id')).rows;
  if (rows.length !== 1 || String(rows[0].row.id) !== '1') {
    throw new Error(`create-admin must leave exactly one user, id 1; users: ${JSON.stringify(rows)}`);
  }
  state.seeds.push({ table: 'users', rows: [rows[0].row] });
  const login = await request('POST', '/v1/auth/login', {
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: { email, password },
  });
  if (login.status !== 200 || !login.json || typeof login.json.access_token !== 'string') {
    throw new Error(`POST /v1/auth/login as the admin: ${login.status} ${login.text.slice(0, 300)}`);
  }
  state.admin = {
    id: 1,
    email,
    password,
    passwordHash: rows[0].row.password_hash,
    token: login.json.access_token,
  };
  console.log('dredd hooks: test admin is user 1, logged in');
}

// ---------------------------------------------------------------------------
// OTHER USERS: fixture users that transactions act as (h.as).
//
// A fixture user is a users row inserted by a group's before hook with the
// admin's password hash (h.admin.passwordHash), so that it signs in with the
// admin's password: no other hash is ever computed. h.as(t, id) puts a token
// of user `id` into the request; the first call for an id signs in through
// POST /v1/auth/login with the email the row has then (so the row must
// exist: insert the fixtures first), later calls reuse that token. A token
// names only the user id, and stays valid across resets for as long as a
// live, unblocked row with that id exists: every transaction that acts as
// user N must insert a user N, and no transaction may block a user or make
// it an admin by SQL (the server caches a user's status for up to 30 s).
// Id 1 is the admin (h.asAdmin).
// ---------------------------------------------------------------------------

async function signIn(t, id) {
  if (!state.admin) throw new Error('no test admin (the server has no create-admin command yet)');
  let token = id === state.admin.id ? state.admin.token : state.tokens.get(id);
  if (!token) {
    const row = (await sql('SELECT email FROM users WHERE id = $1', [id])).rows[0];
    if (!row) throw new Error(`h.as(t, ${id}): no user ${id} (insert the fixture user first)`);
    const login = await request('POST', '/v1/auth/login', {
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: { email: row.email, password: state.admin.password },
    });
    if (login.status !== 200 || !login.json || typeof login.json.access_token !== 'string') {
      throw new Error(`POST /v1/auth/login as user ${id}: ${login.status} ${login.text.slice(0, 300)}`);
    }
    token = login.json.access_token;
    state.tokens.set(id, token);
  }
  t.request.headers.Authorization = `JWT ${token}`;
}

// ---------------------------------------------------------------------------
// CHECKS after every transaction
// ---------------------------------------------------------------------------

let validator = null;
function jsonapiValidator() {
  if (!validator) {
    const { Validator } = require('jsonapi-validator');
    validator = new Validator();
  }
  return validator;
}

// Sponsors and tickets have an attribute named "type" in the original Open
// Event Server, and its clients read it (spec §1 keeps every attribute name
// for compatibility). JSON:API 1.0 reserves "type" inside attributes, so
// the official schema rejects those documents. We keep the drop-in
// behaviour and validate a copy without that one attribute of those two
// types; every other member of every document is still checked.
const LEGACY_TYPE_ATTRIBUTE = new Set(['sponsor', 'ticket']);
function withoutLegacyTypeAttribute(doc) {
  const strip = (o) => {
    if (!o || typeof o !== 'object' || !LEGACY_TYPE_ATTRIBUTE.has(o.type) || !o.attributes) return o;
    const attributes = { ...o.attributes };
    delete attributes.type;
    return { ...o, attributes };
  };
  if (!doc || typeof doc !== 'object') return doc;
  const copy = { ...doc };
  if (Array.isArray(doc.data)) copy.data = doc.data.map(strip);
  else if (doc.data) copy.data = strip(doc.data);
  if (Array.isArray(doc.included)) copy.included = doc.included.map(strip);
  return copy;
}

function header(headers, name) {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : String(headers[key]);
}

const norm = (v) => v.trim().replace(/\s*,\s*/g, ', ').replace(/\s+/g, ' ');

function afterChecks(t) {
  const real = t.real;
  if (!real || t.skip) return [];
  const problems = [];
  const status = real.statusCode;

  if (!header(real.headers, 'x-request-id')) problems.push('no X-Request-Id header');

  for (const name of EXACT_HEADERS) {
    const want = header(t.expected && t.expected.headers, name);
    if (want === undefined) continue;
    const got = header(real.headers, name);
    if (got === undefined || norm(got) !== norm(want)) {
      problems.push(`header ${name}: expected "${want}", got ${got === undefined ? 'none' : `"${got}"`}`);
    }
  }
  const etag = header(t.expected && t.expected.headers, 'etag');
  if (etag !== undefined) {
    const got = header(real.headers, 'etag');
    if (!got || !/^W\/"[^"]+"$/.test(got)) problems.push(`ETag: expected a weak validator W/"...", got ${got}`);
  }

  const ctype = (header(real.headers, 'content-type') || '').split(';')[0].trim().toLowerCase();
  if (ctype === JSONAPI_TYPE) {
    const body = real.body || '';
    if (body === '' && (status === 204 || status === 304 || t.request.method === 'HEAD')) {
      return problems;
    }
    let doc;
    try {
      doc = JSON.parse(body);
    } catch (e) {
      problems.push(`body is not JSON (${e.message})`);
      return problems;
    }
    try {
      jsonapiValidator().validate(withoutLegacyTypeAttribute(doc));
    } catch (e) {
      const details = (e.errors || [])
        .slice(0, 5)
        .map((x) => `${x.dataPath || '/'} ${x.message}`)
        .join('; ');
      problems.push(`not a valid JSON:API 1.0 document: ${details || e.message}`);
    }
    if (doc && doc.jsonapi === undefined) problems.push('no "jsonapi" member');
    if (doc && Array.isArray(doc.errors)) {
      for (const e of doc.errors) {
        if (e.status !== String(status)) {
          problems.push(`errors[].status "${e.status}" is not the HTTP status "${status}"`);
        }
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// The helpers handed to test/dredd/groups/*.js
// ---------------------------------------------------------------------------

function register(kind, name, fn, where) {
  if (typeof name !== 'string' || typeof fn !== 'function') {
    throw new Error(`${where}: ${kind}(name, fn) needs a transaction name and a function`);
  }
  state.used.set(name, where);
  hooks[kind](name, asyncHook(`${kind} hook of "${name}"`, fn));
}

function helpersFor(file) {
  const where = path.relative(process.cwd(), file);
  return {
    // Hooks of one transaction; fn(transaction) may be async.
    before: (name, fn) => register('before', name, fn, where),
    after: (name, fn) => register('after', name, fn, where),
    beforeValidation: (name, fn) => register('beforeValidation', name, fn, where),
    // Skips a transaction; the reason is printed at the end of the run.
    skip(name, reason) {
      if (!reason || reason.length < 20) throw new Error(`${where}: skip("${name}") needs a written reason`);
      state.skips.set(name, reason);
      state.used.set(name, where);
      hooks.before(name, (t) => {
        if (state.fatal) return; // fails like every other transaction
        t.skip = true;
        state.skipped.push([name, reason]);
      });
    },
    sql,
    insert,
    request,
    // The admin ({id, email, password, token}), or null before create-admin.
    get admin() {
      return state.admin;
    },
    // Sends the transaction's request as the test admin.
    asAdmin(t) {
      if (!state.admin) throw new Error('no test admin (the server has no create-admin command yet)');
      t.request.headers.Authorization = `JWT ${state.admin.token}`;
    },
    // Sends the transaction's request as user `id` (async).
    as: (t, id) => signIn(t, id),
    // Forgets the token h.as() keeps for user `id` (after a transaction
    // that revoked it: logout, password change).
    forget: (id) => state.tokens.delete(id),
  };
}

// Every group file registers its hooks now, at load time.
const groupDir = path.join(__dirname, 'groups');
for (const f of fs.readdirSync(groupDir).filter((x) => x.endsWith('.js')).sort()) {
  const file = path.join(groupDir, f);
  require(file)(helpersFor(file));
}

// ---------------------------------------------------------------------------
// Dredd's hooks
// ---------------------------------------------------------------------------

hooks.beforeAll((transactions, done) => {
  Promise.resolve()
    .then(async () => {
      // Names: every name a hook was registered under (through the helpers
      // or straight on `hooks`) must be a transaction's.
      const names = new Set(transactions.map((t) => t.name));
      const registered = new Map(state.used);
      for (const kind of ['beforeHooks', 'afterHooks', 'beforeValidationHooks']) {
        for (const name of Object.keys(hooks[kind] || {})) {
          if (!registered.has(name)) registered.set(name, 'test/dredd/hooks.js');
        }
      }
      const unknown = [...registered].filter(([name]) => !names.has(name));
      if (unknown.length) {
        const list = unknown.map(([name, where]) => `"${name}" (${where})`).join(', ');
        throw new Error(`hooks are registered for names that are no transaction: ${list}`);
      }
      if (NAMES_ONLY) return;

      if (!process.env.DATABASE_URL) throw new Error('DATABASE_URL is not set');
      const { Client } = require('pg');
      state.db = new Client({ connectionString: process.env.DATABASE_URL, application_name: 'dredd-hooks' });
      state.db.on('error', (err) => {
        state.fatal = state.fatal || `database connection of the hooks failed: ${err.message}`;
      });
      await state.db.connect();
      // A reset that waits for a lock held elsewhere fails instead of hanging.
      await sql("SET lock_timeout = '5s'; SET statement_timeout = '30s'");
      state.schema = await discoverSchema();
      state.reset = buildReset(state.schema, state.seeds);
      await resetDatabase();
      await setUpAdmin();
      state.reset = buildReset(state.schema, state.seeds);
      state.resetMs = [];
      console.log(
        `dredd hooks: reset by ${state.reset.method} of ${state.schema.tables.length} tables` +
          ` (static: ${STATIC_TABLES.join(', ')}), ${state.schema.seqs.length} sequences`,
      );
    })
    .catch((err) => {
      state.fatal = `beforeAll: ${err && err.message ? err.message : err}`;
      console.error(`dredd hooks: FATAL ${state.fatal}`);
    })
    .then(() => done());
});

hooks.beforeEach((t, done) => {
  if (state.fatal) {
    fail(t, state.fatal);
    return done();
  }
  if (NAMES_ONLY) return done();
  resetDatabase().then(
    () => done(),
    (err) => {
      fail(t, `database reset: ${err.message}`);
      done();
    },
  );
});

hooks.afterEach((t) => {
  if (NAMES_ONLY) return;
  if (t.skip && !state.skips.has(t.name)) state.unexplained.push(t.name);
  let problems;
  try {
    problems = afterChecks(t);
  } catch (e) {
    problems = [`checks failed: ${e.stack || e}`];
  }
  if (problems.length) fail(t, problems.join('; '));
});

hooks.afterAll((transactions, done) => {
  const ms = state.resetMs.slice().sort((a, b) => a - b);
  if (ms.length) {
    const median = ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
    console.log(
      `dredd hooks: ${ms.length} resets (${state.reset.method}): median ${median.toFixed(2)} ms,` +
        ` max ${ms[ms.length - 1].toFixed(2)} ms`,
    );
  }
  for (const [name, reason] of state.skipped) console.log(`dredd hooks: skipped "${name}": ${reason}`);
  // run.sh counts each of these lines as a failure.
  for (const name of state.unexplained) console.log(`dredd hooks: skipped without a reason: "${name}"`);
  const db = state.db;
  state.db = null;
  if (!db) return done();
  db.end().then(
    () => done(),
    () => done(),
  );
});
