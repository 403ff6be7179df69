'use strict';
/*
 * uploads.js: fixtures of the blueprint group "Uploads"
 * (docs/api/src/45-uploads.apib). Multipart examples are written with LF
 * line ends in the blueprint; they are sent with CRLF, as HTTP requires.
 * "A stored file" first uploads the file it then reads back.
 */
const W = require('./world.js');

const { OWNER } = W;

const crlf = (t) => {
  t.request.body = t.request.body.replace(/\r?\n/g, '\r\n');
};

module.exports = function (h) {
  W.define(h, {
    'Uploads > Image Upload > Upload an image > Example 1': { as: OWNER, tables: ['users'] },
    'Uploads > Image Upload > Upload an image > Example 2': { as: OWNER, tables: ['users'] },
    'Uploads > Image Upload > Upload an image > Example 3': { tables: [] },
    'Uploads > File Upload > Upload files > Example 1': { as: OWNER, tables: ['users'], setup: crlf },
    'Uploads > File Upload > Upload files > Example 2': { as: OWNER, tables: ['users'], setup: crlf },
    'Uploads > File Upload > Upload files > Example 3': { as: OWNER, tables: ['users'], setup: crlf },
    'Uploads > Stored File > Download a stored file > Example 1': {
      tables: [],
      setup: async (t) => {
        const b = 'dredd-boundary';
        const body =
          `--${b}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n\r\n` +
          `Notes of the opening session.\n\r\n--${b}--\r\n`;
        const r = await h.request('POST', '/v1/upload/files', {
          headers: { 'Content-Type': `multipart/form-data; boundary=${b}`, Authorization: `JWT ${h.admin.token}` },
          body,
        });
        if (r.status !== 200 || !r.json || typeof r.json.url !== 'string') {
          throw new Error(`uploading the file to read back: ${r.status} ${r.text}`);
        }
        t.fullPath = new URL(r.json.url).pathname;
        t.request.uri = t.fullPath;
      },
    },
    'Uploads > Stored File > Download a stored file > Example 2': { tables: [] },
  });
};
