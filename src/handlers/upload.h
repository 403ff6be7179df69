/*
 * handlers/upload: the upload endpoints of spec §6 and the /static/ route
 * of the local storage backend.
 *
 *   POST /v1/upload/image  JSON {"data": "data:<type>;base64,..."}
 *                          -> 200 {"url": "<absolute URL>"}
 *   POST /v1/upload/files  multipart/form-data, part `file` (one) or
 *                          `files[]` (several) -> 200 {"url": "..."} or
 *                          {"url": ["...", ...]}
 *   GET  /static/<key>     a locally stored file with its stored
 *                          Content-Type and Content-Disposition
 *
 * Uploads need a signed-in caller (401). Order of checks: media type (415)
 * -> authentication (401) -> body syntax (400) -> decoded size over
 * UPLOAD_MAX_BYTES (413) -> content (422: /upload/image takes PNG, JPEG,
 * GIF, WebP and SVG only, as libmagic sees the bytes) -> storage (502 when
 * the backend fails, 503 when the worker pool is full). Errors are JSON:API
 * error documents.
 *
 * Never: parses or decodes a body on the loop (the worker pool does it);
 * keeps a request's files after it failed or its client left (stored ones
 * are deleted, transfers in flight cancelled).
 */
#ifndef OES_HANDLERS_UPLOAD_H
#define OES_HANDLERS_UPLOAD_H

struct req_ctx;

#define UPLOAD_FILES_MAX 64 /* files in one POST /v1/upload/files */

void upload_image(struct req_ctx *ctx);
void upload_files(struct req_ctx *ctx);
/* Route "/static/{*}" (GET, HEAD); 404 when storing to S3. */
void upload_static(struct req_ctx *ctx);

#endif
