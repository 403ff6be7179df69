#!/usr/bin/env node
/*
 * front.js: the S3 service of the integration tests. s3rver (npm) stores
 * objects but does not verify SigV4 signatures, so this process puts a
 * verifying front before it: every request's signature is recomputed with
 * the npm `aws4` package from the request as received (method, path, query,
 * the headers the client says it signed, the payload hash it sent) and the
 * test credentials; a mismatch, a missing or stale signature, an unsigned
 * x-amz-* header or a body whose SHA-256 differs from x-amz-content-sha256
 * is refused with S3's XML error (403, or 400 for the hash). Verified
 * requests are forwarded to s3rver, which runs in this process on a private
 * port, and its answers passed back unchanged.
 *
 *   node test/s3/front.js --port 0 --dir DIR --bucket B \
 *        --access-key AK --secret-key SK [--region us-east-1]
 *
 * Prints one JSON line on stdout when ready: {"port": P, "s3rver_port": Q}.
 * Control (not signed, for the tests): GET /__front/stats gives counters;
 * POST /__front/mode with {"mode": "pass" | "hold" | "noread"} makes the
 * front answer normally, hold verified requests without answering, or stop
 * reading new requests' bodies (to catch uploads mid-transfer).
 * SIGTERM/SIGINT: closes and exits 0.
 */
'use strict';

const crypto = require('crypto');
const http = require('http');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const aws4 = require(path.join(ROOT, 'node_modules', 'aws4'));
const S3rver = require(path.join(ROOT, 'node_modules', 's3rver'));

function args() {
	const out = { port: 0, region: 'us-east-1' };
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i += 2) {
		const k = a[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
		out[k] = a[i + 1];
	}
	for (const k of ['dir', 'bucket', 'accessKey', 'secretKey'])
		if (!out[k]) {
			process.stderr.write(`front.js: --${k} is required\n`);
			process.exit(2);
		}
	out.port = Number(out.port);
	return out;
}

const opt = args();
const stats = { requests: 0, forwarded: 0, rejected: 0, hash_mismatch: 0, held: 0, noread: 0 };
let mode = 'pass';
const held = [];

function log(msg) {
	process.stderr.write(`front: ${msg}\n`);
}

function s3error(res, status, code, message) {
	const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
		`<Message>${message}</Message><RequestId>front</RequestId></Error>`;
	res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
	res.end(body);
}

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([^/\s]+)\/s3\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/* Why the request's signature is not valid, or null when it is. */
function verify(req, body) {
	const auth = req.headers.authorization;
	if (!auth)
		return [403, 'AccessDenied', 'Anonymous requests are not allowed'];
	const m = AUTH_RE.exec(auth);
	if (!m)
		return [400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed'];
	const [, accessKey, date, region, signedList, signature] = m;
	if (accessKey !== opt.accessKey)
		return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist'];
	if (region !== opt.region)
		return [400, 'AuthorizationHeaderMalformed', `the region '${region}' is wrong; expecting '${opt.region}'`];
	const amzDate = req.headers['x-amz-date'];
	if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date)
		return [403, 'AccessDenied', 'x-amz-date is missing or does not match the credential date'];
	const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8),
		+amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
	if (Math.abs(Date.now() - t) > 15 * 60 * 1000)
		return [403, 'RequestTimeTooSkewed', 'The difference between the request time and the server time is too large'];
	const signed = signedList.split(';');
	for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256'])
		if (!signed.includes(h))
			return [403, 'AccessDenied', `the ${h} header must be signed`];
	for (const h of Object.keys(req.headers))
		if (h.startsWith('x-amz-') && !signed.includes(h))
			return [403, 'AccessDenied', `the ${h} header is present but not signed`];
	const payloadHash = req.headers['x-amz-content-sha256'];
	if (payloadHash !== 'UNSIGNED-PAYLOAD') {
		if (!/^[0-9a-f]{64}$/.test(payloadHash || ''))
			return [400, 'InvalidArgument', 'x-amz-content-sha256 must be the hex SHA-256 of the payload'];
		const actual = crypto.createHash('sha256').update(body).digest('hex');
		if (actual !== payloadHash) {
			stats.hash_mismatch++;
			return [400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed."];
		}
	}
	// recompute the signature over exactly the headers the client signed
	const headers = {};
	const include = {};
	for (const h of signed) {
		if (req.headers[h] === undefined)
			return [403, 'AccessDenied', `the signed header ${h} is missing`];
		headers[h] = req.headers[h];
		include[h] = true;
	}
	const request = {
		method: req.method,
		host: req.headers.host,
		path: req.url,
		service: 's3',
		region: opt.region,
		headers,
		extraHeadersToInclude: include,
	};
	aws4.sign(request, { accessKeyId: opt.accessKey, secretAccessKey: opt.secretKey });
	const mine = /SignedHeaders=([^,]+), Signature=([0-9a-f]{64})/.exec(request.headers.Authorization);
	if (!mine || mine[1] !== signedList || mine[2] !== signature)
		return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
	return null;
}

function forward(req, res, body, upstreamPort) {
	const headers = Object.assign({}, req.headers);
	// s3rver only knows its own dummy key id (it does not check v4 signatures)
	headers.authorization = headers.authorization.replace(/Credential=[^/]+\//, 'Credential=S3RVER/');
	delete headers.expect;
	headers['content-length'] = String(body.length);
	const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers }, (ur) => {
		res.writeHead(ur.statusCode, ur.headers);
		ur.pipe(res);
	});
	up.on('error', (e) => {
		log(`upstream error: ${e.message}`);
		if (!res.headersSent)
			s3error(res, 500, 'InternalError', 'upstream failed');
		else
			res.destroy();
	});
	up.end(body);
	stats.forwarded++;
}

async function main() {
	const s3 = new S3rver({
		address: '127.0.0.1',
		port: 0,
		silent: true,
		directory: opt.dir,
		configureBuckets: [{ name: opt.bucket }],
		vhostBuckets: false,
	});
	const info = await s3.run();
	const upstreamPort = info.port;

	const server = http.createServer((req, res) => {
		if (req.url.startsWith('/__front/')) {
			let data = '';
			req.on('data', (c) => { data += c; });
			req.on('end', () => {
				if (req.url === '/__front/stats') {
					res.writeHead(200, { 'Content-Type': 'application/json' });
					res.end(JSON.stringify(Object.assign({ mode, held_now: held.length }, stats)));
					return;
				}
				if (req.url === '/__front/mode' && req.method === 'POST') {
					const m = JSON.parse(data || '{}').mode;
					if (!['pass', 'hold', 'noread'].includes(m)) {
						res.writeHead(400);
						res.end('bad mode');
						return;
					}
					mode = m;
					log(`mode ${mode}`);
					res.writeHead(204);
					res.end();
					return;
				}
				res.writeHead(404);
				res.end();
			});
			return;
		}
		stats.requests++;
		if (mode === 'noread') {
			stats.noread++;
			req.pause(); // the client's upload stalls in the socket buffers
			held.push(res);
			return;
		}
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const body = Buffer.concat(chunks);
			const why = verify(req, body);
			if (why) {
				stats.rejected++;
				log(`${req.method} ${req.url}: ${why[0]} ${why[1]} (${why[2]})`);
				s3error(res, why[0], why[1], why[2]);
				return;
			}
			if (mode === 'hold') {
				stats.held++;
				held.push(res);
				return;
			}
			forward(req, res, body, upstreamPort);
		});
	});
	server.keepAliveTimeout = 30000;
	server.listen(opt.port, '127.0.0.1', () => {
		process.stdout.write(JSON.stringify({ port: server.address().port, s3rver_port: upstreamPort }) + '\n');
	});
	const stop = () => {
		for (const r of held)
			r.destroy();
		server.close();
		s3.close().then(() => process.exit(0), () => process.exit(0));
		setTimeout(() => process.exit(0), 2000).unref();
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main().catch((e) => {
	process.stderr.write(`front.js: ${e.stack || e}\n`);
	process.exit(1);
});
