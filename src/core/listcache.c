/*
 * listcache: see listcache.h. A chained hash table of entries over a
 * least-recently-used list; budget and counters are per process.
 */
#include "core/listcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "core/config.h"
#include "core/hash.h"

#define NBUCKETS       1024 /* entries are few: the budget holds tens to hundreds */
#define ENTRY_OVERHEAD 128  /* the entry, the document struct, allocator slack */

struct entry {
	char *key;
	unsigned long long h;
	long long gen;
	struct lc_doc *doc;
	size_t bytes;		/* charged to the budget */
	struct entry *next;	/* bucket chain */
	TAILQ_ENTRY(entry) lru; /* most recently used first */
};

/*
 * Admission: a document is kept the second time its URI is built, not the
 * first, so that URIs asked once (a crawler's, a client's cache-busting
 * parameter) never push out the ones asked again and again. seen[] holds
 * hashes (low bit set, so never 0) of URIs built once, direct-mapped: a
 * collision forgets the older one, which costs it one more build. A URI
 * whose entry was dropped (another generation, or evicted) has proved
 * itself and is marked seen again.
 */
#define SEEN_SLOTS 4096

static struct entry *buckets[NBUCKETS];
static unsigned long long seen[SEEN_SLOTS];
static TAILQ_HEAD(lru_head, entry) lru = TAILQ_HEAD_INITIALIZER(lru);
static struct listcache_stats st;

struct lc_doc *lc_doc_new(char *body, size_t len)
{
	struct lc_doc *d = malloc(sizeof(*d));
	if (!d) {
		free(body);
		return NULL;
	}
	d->refs = 1;
	d->body = body;
	d->len = len;
	weak_etag(d->etag, body, len);
	return d;
}

void lc_doc_ref(struct lc_doc *d)
{
	d->refs++;
}

void lc_doc_unref(struct lc_doc *d)
{
	if (d && --d->refs == 0) {
		free(d->body);
		free(d);
	}
}

static struct entry **slot_of(const char *key, unsigned long long h)
{
	struct entry **p = &buckets[h % NBUCKETS];
	while (*p && ((*p)->h != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

/* The slot of h in seen[], and the value that marks h there. */
static unsigned long long *seen_slot(unsigned long long h, unsigned long long *mark)
{
	*mark = h | 1;
	return &seen[*mark % SEEN_SLOTS];
}

static void mark_seen(unsigned long long h)
{
	unsigned long long mark, *slot = seen_slot(h, &mark);
	*slot = mark;
}

/* Whether h was marked; forgets it either way, and marks it if not. */
static int seen_once(unsigned long long h)
{
	unsigned long long mark, *slot = seen_slot(h, &mark);
	int was = *slot == mark;
	*slot = was ? 0 : mark;
	return was;
}

/* Unlinks the entry at *p, marks its URI seen, and frees the entry. */
static void drop(struct entry **p)
{
	struct entry *e = *p;
	mark_seen(e->h);
	*p = e->next;
	TAILQ_REMOVE(&lru, e, lru);
	st.entries--;
	st.bytes -= e->bytes;
	lc_doc_unref(e->doc);
	free(e->key);
	free(e);
}

struct lc_doc *listcache_get(const char *key, long long gen)
{
	unsigned long long h = hash64(key, strlen(key));
	struct entry **p = slot_of(key, h);
	struct entry *e = *p;
	if (!e || e->gen != gen) {
		if (e)
			drop(p); /* built under another generation: never useful again */
		st.misses++;
		return NULL;
	}
	TAILQ_REMOVE(&lru, e, lru);
	TAILQ_INSERT_HEAD(&lru, e, lru);
	st.hits++;
	lc_doc_ref(e->doc);
	return e->doc;
}

void listcache_put(const char *key, long long gen, struct lc_doc *d, int wanted)
{
	size_t budget = (size_t)cfg.list_cache_bytes;
	size_t klen = strlen(key);
	size_t bytes = d->len + klen + ENTRY_OVERHEAD;
	if (budget == 0 || bytes > budget / 8)
		return;
	unsigned long long h = hash64(key, klen);
	struct entry **p = slot_of(key, h);
	if (*p)
		drop(p);
	if (!seen_once(h) && !wanted) {
		st.first_builds++;
		return;
	}
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return;
	}
	e->h = h;
	e->gen = gen;
	e->doc = d;
	e->bytes = bytes;
	lc_doc_ref(d);
	while (!TAILQ_EMPTY(&lru) && st.bytes + bytes > budget) {
		struct entry *old = TAILQ_LAST(&lru, lru_head);
		drop(slot_of(old->key, old->h));
		st.evictions++;
	}
	e->next = buckets[h % NBUCKETS];
	buckets[h % NBUCKETS] = e;
	TAILQ_INSERT_HEAD(&lru, e, lru);
	st.entries++;
	st.bytes += bytes;
	st.stores++;
}

void listcache_clear(void)
{
	while (!TAILQ_EMPTY(&lru)) {
		struct entry *e = TAILQ_FIRST(&lru);
		drop(slot_of(e->key, e->h));
	}
	memset(seen, 0, sizeof(seen));
}

void listcache_stats(struct listcache_stats *out)
{
	*out = st;
}
