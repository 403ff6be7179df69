/*
 * listcache: recent documents of anonymous event-scoped lists, kept per
 * worker under a byte budget (LIST_CACHE_BYTES) with the event generation
 * they were built under (sql/008_list_generations.sql).
 *
 * A document is served from here only when the event's generation, read
 * from the database for this very request, equals the one it was built
 * under: the generation changes in the same transaction as any change to
 * the event's rows, so what is served is what a fresh build would show.
 * Loop thread only.
 *
 * Owns: the entries and, with every reply still sending one, the
 * documents (reference counted). Never: decides what may be cached (crud
 * does), serves a document for another generation.
 */
#ifndef OES_LISTCACHE_H
#define OES_LISTCACHE_H

#include <stddef.h>

/* A rendered document, shared by the cache and the replies sending it. */
struct lc_doc {
	int refs;
	char *body; /* malloc'd, owned */
	size_t len;
	char etag[32]; /* weak_etag of body (core/hash.h), as req_ctx computes it */
};

/* Wraps body (malloc'd; ownership passes) in a document with one
 * reference; NULL (body freed) when out of memory. */
struct lc_doc *lc_doc_new(char *body, size_t len);
void lc_doc_ref(struct lc_doc *d);
void lc_doc_unref(struct lc_doc *d);

/* The document stored for key at gen, with a reference for the caller, or
 * NULL. An entry for another generation is dropped. */
struct lc_doc *listcache_get(const char *key, long long gen);
/* Stores d (adds its own reference) for key at gen, replacing any entry of
 * key; evicts the least recently used entries beyond the budget. A document
 * larger than an eighth of the budget is not stored, nor one whose key is
 * built for the first time (remembered: the next build of it is stored)
 * unless wanted (other requests for it are waiting). */
void listcache_put(const char *key, long long gen, struct lc_doc *d, int wanted);
/* Frees every entry (replies keep their references). */
void listcache_clear(void);

struct listcache_stats {
	long hits, misses, stores, evictions;
	long first_builds; /* documents not stored: their key's first build */
	long entries;
	size_t bytes;
};
void listcache_stats(struct listcache_stats *out);

#endif
