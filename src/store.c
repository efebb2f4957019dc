/* store.c - building, indexing and freeing content generations. Runs at start-up and on the
 * reload thread; nothing here is on a request path except cachet_store_lookup(). */
#define _GNU_SOURCE
#include "cachet/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cachet/hpack.h"
#include "cachet/httpdate.h"
#include "cachet/link_preload.h"
#include "cachet/manifest.h"
#include "cachet/mime.h"

/* Directory nesting followed at most; deeper trees are refused rather than risking the stack. */
#define SCAN_DEPTH_MAX 64

/* Room for a redirect's block or a generation's errors, each block with its HPACK twin (at most
 * the text's length plus 18 bytes a line). */
#define HEADS_BLOCKS_MAX (CACHET_N_ERRORS + 2)
#define HEADS_MAX        (HEADS_BLOCKS_MAX * CACHET_BLOCK_MAX * 3)

/* Heads (the blocks of redirects and errors) are carved out of large chunks, packed end to end
 * (no allocator size classes, no per-allocation overhead). A chunk counts the heads alive in it,
 * plus one while a builder fills it, and goes back whole when the last goes: a generation whose
 * blocks are all replaced returns its pages. */
struct heads_chunk {
	atomic_size_t live;
	size_t used;
	_Alignas(max_align_t) char mem[];
};

/* A chunk with its header is exactly 256 KB: jemalloc's size class, so that no part of the
 * allocation is rounded up (256 KB plus a header would take a 320 KB class). */
#define HEADS_CHUNK ((size_t)256 * 1024 - offsetof(struct heads_chunk, mem))

/* refs, then the entry's representations (when it is an entry's), then the block texts */
struct cachet_heads {
	atomic_uint refs;
	struct heads_chunk *chunk; /* NULL: a malloc of its own (larger than a chunk would fit) */
	_Alignas(max_align_t) char text[];
};

/* Blocks are formatted here one after the other, then copied into one cachet_heads sized to fit
 * (heads_commit), and each block's text pointed into it. */
struct heads_builder {
	size_t len;
	unsigned n;
	struct heads_chunk *chunk; /* being filled; the builder holds one count on it */
	struct {
		struct cachet_block *blk;
		size_t off, h2_off; /* its text, its HPACK twin */
	} fix[HEADS_BLOCKS_MAX];
	char buf[HEADS_MAX];
};

/* Open addressing over pointers, load factor <= 0.5, doubled when half full (table_reserve): the
 * scan's content and lines tables. Freed with the scan. */
struct ptr_table {
	void **slot;
	size_t mask, n;
};

struct scan {
	const char *root_real; /* realpath of ROOT, for the symlink containment check */
	size_t root_real_len;
	const struct cachet_store *prev;
	const struct cachet_store_options *opt;
	int64_t now;
	struct cachet_entry *v;
	size_t n, cap;
	size_t files, bytes;
	struct {
		dev_t dev;
		ino_t ino;
	} ancestors[SCAN_DEPTH_MAX];
	unsigned depth;
	struct heads_builder *hb;
	struct cachet_store_arena *arena; /* what the files' answers are made of (passes to st) */
	struct ptr_table lines;           /* interned lines of this build, by text */
	const struct cachet_lines *extra_lines;
	/* blobs by content (XXH3-64 of the bytes): those of the previous generation and those read
	 * so far by this build; a file whose bytes equal one of them shares it */
	struct ptr_table ct;
	size_t reread, identical;
	char *err;
	size_t errlen;
	size_t fallback, error_page; /* issue 12: entry numbers, SIZE_MAX for none */
};

static int fail(struct scan *s, int rc, const char *what, const char *path)
{
	snprintf(s->err, s->errlen, "%s %s: %s", what, path, strerror(-rc));
	return rc;
}

static struct cachet_entry *entry_push(struct scan *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct cachet_entry *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	struct cachet_entry *e = &s->v[s->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static void heads_ref(struct cachet_heads *h)
{
	if (h)
		atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

static void chunk_unref(struct heads_chunk *c)
{
	if (c && atomic_fetch_sub_explicit(&c->live, 1, memory_order_acq_rel) == 1)
		free(c);
}

/* The last reference may go on any thread (a worker dropping the last generation that used it). */
static void heads_unref(struct cachet_heads *h)
{
	if (!h || atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (h->chunk)
		chunk_unref(h->chunk);
	else
		free(h);
}

/* Room for one cachet_heads of size bytes: in the builder's chunk (a new one when it is full), or
 * a malloc of its own when that is too large to pack. Only the building thread calls this. */
static struct cachet_heads *heads_alloc(struct heads_builder *hb, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	size = (size + align - 1) & ~(align - 1);
	if (size > HEADS_CHUNK / 8) {
		struct cachet_heads *h = malloc(size);
		if (h)
			h->chunk = NULL;
		return h;
	}
	struct heads_chunk **slot = &hb->chunk;
	struct heads_chunk *c = *slot;
	if (!c || c->used + size > HEADS_CHUNK) {
		if (!(c = malloc(offsetof(struct heads_chunk, mem) + HEADS_CHUNK)))
			return NULL;
		atomic_init(&c->live, 1);
		c->used = 0;
		chunk_unref(*slot);
		*slot = c;
	}
	struct cachet_heads *h = (struct cachet_heads *)(void *)(c->mem + c->used);
	c->used += size;
	atomic_fetch_add_explicit(&c->live, 1, memory_order_relaxed);
	h->chunk = c;
	return h;
}

static struct heads_builder *builder_new(void)
{
	struct heads_builder *hb = malloc(sizeof(*hb));
	if (hb) {
		hb->len = 0;
		hb->n = 0;
		hb->chunk = NULL;
	}
	return hb;
}

static void builder_free(struct heads_builder *hb)
{
	if (hb) {
		chunk_unref(hb->chunk);
	}
	free(hb);
}

/* Copies what hb holds into one allocation sized to fit, and points each formatted block into
 * it. */
static int heads_commit(struct heads_builder *hb, struct cachet_heads **out)
{
	*out = NULL;
	if (hb->n == 0)
		return 0;
	struct cachet_heads *h = heads_alloc(hb, sizeof(*h) + hb->len);
	if (!h)
		return -ENOMEM;
	atomic_init(&h->refs, 1);
	memcpy(h->text, hb->buf, hb->len);
	for (unsigned i = 0; i < hb->n; i++) {
		struct cachet_block *blk = hb->fix[i].blk;
		blk->text = h->text + hb->fix[i].off;
		blk->h2.data = (unsigned char *)h->text + hb->fix[i].h2_off;
	}
	hb->len = 0;
	hb->n = 0;
	*out = h;
	return 0;
}

static int block_format(struct heads_builder *hb, struct cachet_block *blk, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats a header block whose second line is "Date: " followed by a placeholder date, into hb
 * (its text is set by heads_commit). */
static int block_format(struct heads_builder *hb, struct cachet_block *blk, const char *fmt, ...)
{
	size_t room = sizeof(hb->buf) - hb->len;
	if (room > CACHET_BLOCK_MAX)
		room = CACHET_BLOCK_MAX;
	if (hb->n == HEADS_BLOCKS_MAX)
		return -E2BIG;
	char *tmp = hb->buf + hb->len;
	va_list ap;
	va_start(ap, fmt);
	/* clang 14's analyzer loses track of va_start here (a known false positive) */
	int n = vsnprintf(tmp, room, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return -E2BIG;
	const char *d = strstr(tmp, "\r\n" CACHET_BLOCK_DATE_NAME);
	if (!d)
		return -EINVAL;
	blk->text = NULL;
	blk->len = (uint32_t)n;
	blk->date_off = (uint32_t)(d - tmp) + 2 + sizeof(CACHET_BLOCK_DATE_NAME) - 1;
	blk->closes = strstr(tmp, "\r\nConnection: close\r\n") != NULL;
	/* HTTP/2: the same block as HPACK, right after the text, so every block has its twin
	 * (hpack.h) in the same heads */
	size_t h2_off = hb->len + (size_t)n + 1; /* texts stay NUL-terminated */
	uint32_t h2_date;
	int h2_len = cachet_hpack_encode(tmp, (size_t)n, (unsigned char *)hb->buf + h2_off,
	                                 sizeof(hb->buf) - h2_off, &h2_date);
	if (h2_len < 0)
		return h2_len;
	blk->h2 = (struct cachet_hpack_block){.len = (uint32_t)h2_len, .date_off = h2_date};
	hb->fix[hb->n].blk = blk;
	hb->fix[hb->n].off = hb->len;
	hb->fix[hb->n].h2_off = h2_off;
	hb->n++;
	hb->len = h2_off + (size_t)h2_len;
	return 0;
}

#define EPOCH_DATE "Thu, 01 Jan 1970 00:00:00 GMT"

/* ---- a generation's arena and its interned lines ----
 *
 * A file's answers are copied together per answer (response.c) from its representations and a
 * few lines most files share. Those live in the generation's arena: large chunks filled end to
 * end and freed whole with the generation (cachet_store_unref), so 20,000 files cost a few dozen
 * allocations, not tens of thousands rounded up to size classes. Nothing in an arena is shared
 * with another generation: a rescan makes its representations again (no hashing, no reading: a
 * copy of the blob's fields and the digits of a length), which keeps lifetimes simple.
 * Ownership: a reply points into the arena (cachet_reply.rep, .entry) only until its head is
 * written: heads are copied into the connection's output, never sent from here, so no send
 * points into an arena; bodies point into blobs, which a send's pin on the generation keeps. */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char mem[];
};

struct cachet_store_arena {
	struct arena_chunk *chunks; /* newest first; the first is being filled */
};

/* 64 KB with its header: a jemalloc size class, nothing rounded up. */
#define ARENA_CHUNK ((size_t)64 * 1024 - offsetof(struct arena_chunk, mem))

static void *arena_alloc(struct cachet_store_arena *a, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	struct arena_chunk *c = a->chunks;
	/* aligned from where the last allocation ended: arena_text packs strings unaligned */
	size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
	if (!c || at + size > c->size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		if (!(c = malloc(offsetof(struct arena_chunk, mem) + cap)))
			return NULL;
		at = 0;
		c->size = cap;
		/* a large allocation of its own goes behind the chunk being filled */
		if (size > ARENA_CHUNK && a->chunks) {
			c->next = a->chunks->next;
			a->chunks->next = c;
		} else {
			c->next = a->chunks;
			a->chunks = c;
		}
	}
	void *p = c->mem + at;
	c->used = at + size;
	return p;
}

/* A copy of the string text[0..len) in the arena, NUL-terminated, packed without alignment (an
 * entry's path: 20,000 of them). NULL when out of memory. */
static char *arena_text(struct cachet_store_arena *a, const char *text, size_t len)
{
	struct arena_chunk *c = a->chunks;
	char *p;
	if (c && c->used + len + 1 <= c->size) {
		p = (char *)c->mem + c->used;
		c->used += len + 1;
	} else if (!(p = arena_alloc(a, len + 1))) {
		return NULL;
	}
	memcpy(p, text, len);
	p[len] = '\0';
	return p;
}

/* The scan's arena, made on first use. */
static struct cachet_store_arena *scan_arena(struct scan *s)
{
	if (!s->arena)
		s->arena = calloc(1, sizeof(*s->arena));
	return s->arena;
}

static void arena_free(struct cachet_store_arena *a)
{
	if (!a)
		return;
	for (struct arena_chunk *c = a->chunks, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

/* Room for one more pointer in t: first slots at first, twice as many once half full, each
 * pointer placed again where key says it hashes. Returns 0 or -ENOMEM. */
static int table_reserve(struct ptr_table *t, size_t first, uint64_t (*key)(const void *))
{
	if (t->slot && (t->n + 1) * 2 <= t->mask + 1)
		return 0;
	size_t old = t->slot ? t->mask + 1 : 0, cap = old ? old * 2 : first;
	void **v = calloc(cap, sizeof(void *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < old; i++) {
		if (!t->slot[i])
			continue;
		size_t j = key(t->slot[i]) & (cap - 1);
		while (v[j])
			j = (j + 1) & (cap - 1);
		v[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = v;
	t->mask = cap - 1;
	return 0;
}

static uint64_t lines_key(const void *p)
{
	const struct cachet_lines *l = p;
	return XXH3_64bits(l->text, l->len);
}

/* The interned copy of the header lines text[0..len) ("Name: value\r\n" each) with their HPACK
 * twin, made in the arena on first use. NULL when out of memory or not a field block. */
static const struct cachet_lines *lines_intern(struct cachet_store_arena *a, struct ptr_table *t,
                                               const char *text, size_t len)
{
	if (len > CACHET_BLOCK_MAX || table_reserve(t, 64, lines_key) < 0)
		return NULL;
	size_t j = XXH3_64bits(text, len) & t->mask;
	for (; t->slot[j]; j = (j + 1) & t->mask) {
		const struct cachet_lines *o = t->slot[j];
		if (o->len == len && memcmp(o->text, text, len) == 0)
			return o;
	}
	unsigned char h2[CACHET_HPACK_BOUND(CACHET_BLOCK_MAX, CACHET_BLOCK_MAX / 4)];
	uint32_t date_off;
	int h2_len = cachet_hpack_encode(text, len, h2, sizeof(h2), &date_off);
	if (h2_len < 0)
		return NULL;
	struct cachet_lines *l = arena_alloc(a, sizeof(*l) + len + (size_t)h2_len + 1);
	if (!l)
		return NULL;
	char *copy = (char *)(l + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	memcpy(copy + len + 1, h2, (size_t)h2_len);
	*l = (struct cachet_lines){.text = copy,
	                           .h2 = (const unsigned char *)copy + len + 1,
	                           .len = (uint16_t)len,
	                           .h2_len = (uint16_t)h2_len};
	t->slot[j] = l;
	t->n++;
	return l;
}

static const struct cachet_lines *lines_printf(struct cachet_store_arena *a, struct ptr_table *t,
                                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const struct cachet_lines *lines_printf(struct cachet_store_arena *a, struct ptr_table *t,
                                               const char *fmt, ...)
{
	char text[CACHET_BLOCK_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	/* clang 14's analyzer loses track of va_start here (a known false positive) */
	int n =
	    vsnprintf(text, sizeof(text), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		return NULL;
	return lines_intern(a, t, text, (size_t)n);
}

/* What a file's 200 head holds besides its shared lines, at the longest (response.c writes it):
 * status line 17, Date line 37, Server 16, Last-Modified 46, ETag 8 + its value, Content-Encoding
 * 24, Accept-Ranges 22, Content-Length 38. */
#define FILE_HEAD_FIXED_MAX (17 + 37 + 16 + 46 + 8 + CACHET_ETAG_MAX + 24 + 22 + 38)

/* The representations of a file (from its blob) and the lines its answers share, in the arena.
 * RFC 9110 §15.4.5: the 304 carries Date, ETag and the cache-related fields the 200 would
 * (Cache-Control, Vary), and no representation metadata: cache_lines holds exactly those. */
static int entry_answers(struct scan *s, struct cachet_entry *e)
{
	const struct cachet_blob *b = e->blob;
	e->available = b->available;
	e->pending = b->pending;
	bool vary = e->available != 1u << CACHET_CODING_IDENTITY || e->pending;
	/* only the codings it has: most text files keep one or two variants of three */
	struct cachet_repr *r =
	    arena_alloc(s->arena, (size_t)__builtin_popcount(e->available) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	e->repr = r;
	for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) {
		if (!(e->available & (1u << c)))
			continue;
		if (c == CACHET_CODING_IDENTITY) {
			*r = (struct cachet_repr){.body = b->data,
			                          .body_len = b->len,
			                          .etag = b->etag,
			                          .etag_len = (uint8_t)b->etag_len};
		} else {
			const struct cachet_variant *v = cachet_blob_variant(b, c);
			*r = (struct cachet_repr){.body = v->data,
			                          .body_len = v->len,
			                          .etag = v->etag,
			                          .etag_len = (uint8_t)v->etag_len};
		}
		r->coding = (uint8_t)c;
		char digits[CACHET_LENGTH_DIGITS_MAX + 1];
		int k = snprintf(digits, sizeof(digits), "%zu", r->body_len);
		memcpy(r->length, digits, (size_t)k);
		r->length_len = (uint8_t)k;
		r++;
	}
	char lm[CACHET_HTTPDATE_LEN + 1];
	cachet_httpdate_format(e->last_modified, lm);
	memcpy(e->last_modified_text, lm, CACHET_HTTPDATE_LEN);
	e->type_lines = lines_printf(s->arena, &s->lines, "Content-Type: %s\r\n", e->content_type);
	e->cache_lines = lines_printf(s->arena, &s->lines, "Cache-Control: %s\r\n%s",
	                              e->cache_control, vary ? "Vary: Accept-Encoding\r\n" : "");
	e->extra_lines = s->extra_lines;
	e->link_lines =
	    e->link ? lines_intern(s->arena, &s->lines, e->link, strlen(e->link)) : NULL;
	if (!e->type_lines || !e->cache_lines || !e->extra_lines || (e->link && !e->link_lines))
		return -E2BIG; /* or out of memory: the build fails either way */
	size_t longest = FILE_HEAD_FIXED_MAX + e->type_lines->len + e->cache_lines->len +
	                 e->extra_lines->len + (e->link_lines ? e->link_lines->len : 0);
	return longest <= CACHET_BLOCK_MAX ? 0 : -E2BIG;
}

/* Codings worth offering for a type, as a bitmask. */
static unsigned wanted_codings(const struct scan *s, const char *type)
{
	unsigned m = 0;
	if (!cachet_mime_compressible(type))
		return 0;
	for (unsigned i = 0; i < s->opt->n_codings; i++)
		if (s->opt->codings[i] != CACHET_CODING_IDENTITY)
			m |= 1u << s->opt->codings[i];
	return m;
}

static const struct cachet_entry *prev_file(const struct scan *s, const char *path, size_t len)
{
	const struct cachet_entry *e = s->prev ? cachet_store_lookup(s->prev, path, len) : NULL;
	return e && e->kind == CACHET_ENTRY_FILE ? e : NULL;
}

static uint64_t blob_key(const void *p)
{
	return ((const struct cachet_blob *)p)->hash;
}

static int ct_insert(struct ptr_table *t, struct cachet_blob *b)
{
	int rc = table_reserve(t, 1024, blob_key);
	if (rc < 0)
		return rc;
	size_t j = b->hash & t->mask;
	for (; t->slot[j]; j = (j + 1) & t->mask)
		if (t->slot[j] == b)
			return 0;
	t->slot[j] = b;
	t->n++;
	return 0;
}

/* The content table starts with the previous generation's blobs (on the first file read). */
static int ct_init(struct scan *s)
{
	if (s->ct.slot || !s->prev)
		return 0;
	for (size_t i = 0; i < s->prev->n_entries; i++) {
		const struct cachet_entry *e = &s->prev->entries[i];
		int rc = 0;
		if (e->kind == CACHET_ENTRY_FILE && !cachet_blob_from_sidecar(e->blob))
			rc = ct_insert(&s->ct, e->blob);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A blob already known with the bytes, ETag and codings of b (made by compressing, not from
 * sidecars, as b's), or NULL. */
static struct cachet_blob *ct_find(const struct ptr_table *t, const struct cachet_blob *b)
{
	if (!t->slot || cachet_blob_from_sidecar(b))
		return NULL;
	for (size_t j = b->hash & t->mask; t->slot[j]; j = (j + 1) & t->mask) {
		struct cachet_blob *o = t->slot[j];
		if (o->hash == b->hash && o->len == b->len && o->wanted == b->wanted &&
		    memcmp(o->data, b->data, b->len) == 0)
			return o;
	}
	return NULL;
}

static int limits_check(struct scan *s, const char *path, size_t size)
{
	if (s->opt->max_files && s->files >= s->opt->max_files)
		return fail(s, -EFBIG, "over --max-files at", path);
	if (s->opt->max_bytes && s->bytes + size > s->opt->max_bytes)
		return fail(s, -EFBIG, "over --max-memory at", path);
	return 0;
}

/* A file entry for path on blob b (the caller's reference passes to the entry). When prev (the
 * previous generation's entry for path) has this very blob, its Last-Modified is kept: the
 * representation did not change. Its answers' parts are made later (entries_finish). */
static int entry_add(struct scan *s, const char *path, const char *type, struct cachet_blob *b,
                     const struct stat *st, const struct cachet_entry *prev)
{
	size_t plen = strlen(path);
	struct cachet_entry *e = entry_push(s);
	char *key = e && scan_arena(s) ? arena_text(s->arena, path, plen) : NULL;
	if (!key) {
		if (e)
			s->n--;
		cachet_blob_unref(b);
		return fail(s, -ENOMEM, "out of memory at", path);
	}
	e->kind = CACHET_ENTRY_FILE;
	e->content_type = type;
	/* what bundle_pass decides is decided again (manifests, preload links) */
	e->cache_control = cachet_cache_policy_for(s->opt->cache, path, plen);
	if (prev && prev->blob == b)
		e->last_modified = prev->last_modified;
	else
		e->last_modified = st->st_mtim.tv_sec < s->now ? st->st_mtim.tv_sec : s->now;
	e->path = key;
	e->path_len = (uint32_t)plen;
	e->blob = b;
	e->sig = cachet_blob_sig(st);
	s->files++;
	s->bytes += b->len;
	return 0;
}

static struct cachet_blob_source blob_source(const struct scan *s, int dfd, const char *name,
                                             const char *type, unsigned sidecars)
{
	return (struct cachet_blob_source){.dfd = dfd,
	                                   .name = name,
	                                   .fd = -1,
	                                   .wanted = wanted_codings(s, type),
	                                   .sidecars = sidecars,
	                                   .defer_compress = s->opt->defer_variants ||
	                                                     s->opt->compress_threads > 1,
	                                   .hook = s->opt->race_hook,
	                                   .hook_arg = s->opt->race_hook_arg};
}

/* The fast path of a rescan: a file whose signature and sidecars are those the previous
 * generation read is neither opened nor read; its entry (blob and blocks) is taken over. st is
 * the stat of the name. Returns 1 when taken over, 0 when the file must be read, or -errno. */
static int reuse_unchanged(struct scan *s, int dfd, const char *name, const char *path,
                           const struct stat *st, unsigned sidecars)
{
	const struct cachet_entry *p = prev_file(s, path, strlen(path));
	struct cachet_file_sig sig = cachet_blob_sig(st);
	if (!p || !cachet_blob_sig_equal(&p->sig, &sig))
		return 0;
	struct cachet_blob_source src = blob_source(s, dfd, name, p->content_type, sidecars);
	if (!cachet_blob_current(p->blob, &src))
		return 0;
	int rc = limits_check(s, path, p->blob->len);
	if (rc < 0)
		return rc;
	cachet_blob_ref(p->blob);
	rc = entry_add(s, path, p->content_type, p->blob, st, p);
	return rc < 0 ? rc : 1;
}

/* Reads a new or changed file through fd (st: its fstat). Bytes equal to a known blob's reuse it
 * (its ETag and variants): a bundler that rewrites every file costs a read and a hash per file,
 * not a compression. */
static int add_file(struct scan *s, int dfd, const char *name, int fd, const char *path,
                    struct stat *st, unsigned sidecars)
{
	int rc = limits_check(s, path, (size_t)st->st_size);
	if (rc < 0)
		return rc;
	const char *type = cachet_mime_type(name, strlen(name));
	struct cachet_blob_source src = blob_source(s, dfd, name, type, sidecars);
	src.fd = fd;
	src.st = st;
	struct cachet_blob *b, *same;
	if ((rc = ct_init(s)) < 0 || (rc = cachet_blob_load(&src, &b)) < 0)
		return fail(s, rc, "cannot read", path);
	s->reread++;
	if ((same = ct_find(&s->ct, b))) {
		cachet_blob_unref(b);
		cachet_blob_ref(same);
		b = same;
	} else if ((rc = ct_insert(&s->ct, b)) < 0) {
		cachet_blob_unref(b);
		return fail(s, rc, "out of memory at", path);
	}
	const struct cachet_entry *p = prev_file(s, path, strlen(path));
	if (p && p->blob == b)
		s->identical++;
	return entry_add(s, path, type, b, st, p);
}

/* Adds "/dir/" as a second key of "/dir/index.html", and "/dir" as a 301 to "/dir/". */
static int add_directory_keys(struct scan *s, const char *dir, size_t index_entry)
{
	struct cachet_entry *e = entry_push(s);
	size_t dlen = strlen(dir);
	char slash[PATH_MAX + 1];
	if (dlen >= PATH_MAX)
		return fail(s, -ENAMETOOLONG, "path too long at", dir);
	memcpy(slash, dir, dlen);
	slash[dlen] = '/';
	if (!e || !scan_arena(s) || !(e->path = arena_text(s->arena, slash, dlen + 1)))
		return fail(s, -ENOMEM, "out of memory at", dir);
	e->path_len = (uint32_t)dlen + 1;
	e->kind = CACHET_ENTRY_ALIAS;
	e->alias_target = index_entry;
	if (dlen == 0)
		return 0; /* ROOT: "/" is the only key; there is no "" to redirect */
	e = entry_push(s);
	if (!e || !(e->path = arena_text(s->arena, dir, dlen)))
		return fail(s, -ENOMEM, "out of memory at", dir);
	e->path_len = (uint32_t)dlen;
	e->kind = CACHET_ENTRY_REDIRECT;
	struct cachet_block *b = arena_alloc(s->arena, sizeof(*b));
	if (!b)
		return fail(s, -ENOMEM, "out of memory at", dir);
	e->redirect = b;
	int rc = block_format(s->hb, b,
	                      "HTTP/1.1 301 Moved Permanently\r\nDate: " EPOCH_DATE "\r\n"
	                      "Server: cachet\r\nLocation: %s/\r\nContent-Length: 0\r\n%s",
	                      dir, s->opt->extra_headers ? s->opt->extra_headers : "");
	return rc < 0 ? rc : heads_commit(s->hb, &e->heads);
}

static int scan_dir(struct scan *s, int dfd, char *path, size_t plen);

/* Whether an open descriptor's file lies inside ROOT (asked of the descriptor, not of a name that
 * may point elsewhere by now). */
static bool fd_inside_root(const struct scan *s, int fd)
{
	char proc[64], real[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (!realpath(proc, real))
		return false;
	return strncmp(real, s->root_real, s->root_real_len) == 0 &&
	       (real[s->root_real_len] == '/' || real[s->root_real_len] == '\0');
}

/* Opens a directory entry that looked like a regular file or a directory (st, from the listing's
 * stat) and checks what was opened rather than what the name showed a moment earlier: a name
 * swapped since for a link, a FIFO or a device is never followed, blocked on or read. A link is
 * followed only when the descriptor it gives lies inside ROOT. O_NONBLOCK: opening a FIFO never
 * waits for a writer. Returns 1 with *fd open and st its fstat, 0 to skip the entry, or -errno. */
static int entry_open(const struct scan *s, int dfd, const char *name, bool link, struct stat *st,
                      int *fd)
{
	bool dir = S_ISDIR(st->st_mode);
	if (s->opt->race_hook)
		s->opt->race_hook(s->opt->race_hook_arg, name, 0);
	*fd = openat(dfd, name,
	             O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (link ? 0 : O_NOFOLLOW) |
	                 (dir ? O_DIRECTORY : 0));
	if (*fd < 0) /* gone, or swapped for a link, a socket, a non-directory: not served */
		return errno == ENOENT || errno == ELOOP || errno == ENXIO || errno == ENOTDIR
		           ? 0
		           : -errno;
	int rc = fstat(*fd, st) < 0 ? -errno : 1;
	if (rc == 1 && ((dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) ||
	                (link && !fd_inside_root(s, *fd))))
		rc = 0;
	if (rc < 1)
		close(*fd);
	return rc;
}

/* A directory's names, sorted: sidecars are found in it rather than by a stat per coding. */
struct listing {
	char **name;
	size_t n, cap;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->name[i]);
	free(l->name);
}

/* Reads every name of d but "." and ".." (scan_one decides which dot names are served). */
static int listing_read(DIR *d, struct listing *l)
{
	const struct dirent *de;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 32;
			char **v = realloc(l->name, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			l->name = v;
			l->cap = cap;
		}
		if (!(l->name[l->n] = strdup(de->d_name)))
			return -ENOMEM;
		l->n++;
	}
	if (errno != 0)
		return -errno;
	if (l->n)
		qsort(l->name, l->n, sizeof(*l->name), name_cmp);
	return 0;
}

/* Codings whose sidecar (name + ".gz" ...) the listing holds. */
static unsigned sidecars_listed(const struct listing *l, const char *name)
{
	unsigned m = 0;
	char buf[NAME_MAX + 16];
	const char *key = buf;
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++) {
		int n = snprintf(buf, sizeof(buf), "%s%s", name, cachet_encoding_suffix(c));
		if (n > 0 && (size_t)n < sizeof(buf) &&
		    bsearch(&key, l->name, l->n, sizeof(*l->name), name_cmp))
			m |= 1u << c;
	}
	return m;
}

/* One directory entry: a regular file is loaded (or taken over unchanged from the previous
 * generation), a directory is descended into. */
static int scan_one(struct scan *s, int dfd, const struct listing *l, const char *name, char *path,
                    size_t plen)
{
	size_t nlen = strlen(name);
	/* dotfiles and dot-directories are never served, but for ROOT's /.well-known/ (RFC 8615:
	 * security.txt, assetlinks.json, apple-app-site-association); dot names inside it stay
	 * hidden */
	if (name[0] == '.' && !(plen == 0 && strcmp(name, ".well-known") == 0))
		return 0;
	if (plen + 1 + nlen >= PATH_MAX)
		return fail(s, -ENAMETOOLONG, "path too long under", path[0] ? path : "/");
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(s, -errno, "cannot stat", name);
	bool link = S_ISLNK(st.st_mode);
	if (link && fstatat(dfd, name, &st, 0) < 0)
		return 0; /* dangles */
	if ((!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) ||
	    (name[0] == '.' && !S_ISDIR(st.st_mode)))
		return 0;
	path[plen] = '/';
	memcpy(path + plen + 1, name, nlen + 1);
	unsigned sidecars = S_ISREG(st.st_mode) ? sidecars_listed(l, name) : 0;
	int fd = -1,
	    rc = S_ISREG(st.st_mode) ? reuse_unchanged(s, dfd, name, path, &st, sidecars) : 0;
	if (rc == 0) {
		rc = entry_open(s, dfd, name, link, &st, &fd);
		if (rc < 0) {
			rc = fail(s, rc, "cannot open", path);
		} else if (rc == 1) {
			if (S_ISREG(st.st_mode))
				rc = add_file(s, dfd, name, fd, path, &st, sidecars);
			else
				rc = scan_dir(s, fd, path, plen + 1 + nlen);
			close(fd);
		}
	}
	path[plen] = '\0';
	return rc < 0 ? rc : 0;
}

static bool on_ancestor_path(const struct scan *s, const struct stat *st)
{
	for (unsigned i = 0; i < s->depth; i++)
		if (s->ancestors[i].dev == st->st_dev && s->ancestors[i].ino == st->st_ino)
			return true;
	return false;
}

/* Reads directory dfd (path = its key, "" for ROOT). Takes no ownership of dfd. */
static int scan_dir(struct scan *s, int dfd, char *path, size_t plen)
{
	struct stat st;
	if (fstat(dfd, &st) < 0)
		return fail(s, -errno, "cannot stat", path[0] ? path : "/");
	if (on_ancestor_path(s, &st))
		return 0; /* a symlink loop back to an ancestor */
	if (s->depth == SCAN_DEPTH_MAX)
		return fail(s, -ELOOP, "directories nested too deep at", path);
	s->ancestors[s->depth].dev = st.st_dev;
	s->ancestors[s->depth].ino = st.st_ino;
	s->depth++;
	int dup_fd = dup(dfd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		s->depth--;
		return fail(s, -errno, "cannot list", path[0] ? path : "/");
	}
	size_t first = s->n;
	struct listing l = {0};
	int rc = listing_read(d, &l);
	closedir(d);
	if (rc < 0)
		rc = fail(s, rc, "cannot list", path[0] ? path : "/");
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = scan_one(s, dfd, &l, l.name[i], path, plen);
	listing_free(&l);
	s->depth--;
	for (size_t i = first; rc == 0 && i < s->n; i++) {
		const struct cachet_entry *e = &s->v[i];
		if (e->kind == CACHET_ENTRY_FILE &&
		    e->path_len == plen + sizeof("/index.html") - 1 &&
		    memcmp(e->path, path, plen) == 0 &&
		    strcmp(e->path + plen, "/index.html") == 0) {
			rc = add_directory_keys(s, path, i);
			break;
		}
	}
	return rc;
}

struct compress_pool {
	struct cachet_blob **blobs;
	size_t n;
	atomic_size_t next;
	atomic_int rc;
	const atomic_bool *cancel;
};

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v and drops repeats; returns how many are left. */
static size_t blobs_unique(struct cachet_blob **v, size_t n)
{
	size_t k = 0;
	if (n)
		qsort(v, n, sizeof(struct cachet_blob *), ptr_cmp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/* One compression thread: takes blobs until none is left (or it is told to stop). Blobs are
 * distinct, so threads never touch the same memory. */
static void *compress_thread(void *arg)
{
	struct compress_pool *p = arg;
	for (;;) {
		if (p->cancel && atomic_load_explicit(p->cancel, memory_order_relaxed)) {
			atomic_store(&p->rc, -ECANCELED);
			return NULL;
		}
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			return NULL;
		int rc = cachet_blob_compress_pending(p->blobs[i]);
		if (rc < 0)
			atomic_store(&p->rc, rc);
	}
}

/* Compresses every pending variant of the files among v[0..n) on up to threads threads (this one
 * included): at start-up a tree of text assets compresses on every core, not one. Returns how
 * many blobs were compressed, or -errno. */
static int compress_entries(const struct cachet_entry *v, size_t n, unsigned threads,
                            const atomic_bool *cancel)
{
	struct compress_pool p = {.blobs = calloc(n ? n : 1, sizeof(struct cachet_blob *)),
	                          .cancel = cancel};
	pthread_t tid[CACHET_COMPRESS_THREADS_MAX];
	unsigned started = 0;
	if (!p.blobs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == CACHET_ENTRY_FILE && v[i].blob->pending)
			p.blobs[p.n++] = v[i].blob;
	p.n = blobs_unique(p.blobs, p.n); /* a blob shared by paths is compressed once */
	atomic_init(&p.next, 0);
	atomic_init(&p.rc, 0);
	unsigned want =
	    threads < CACHET_COMPRESS_THREADS_MAX ? threads : CACHET_COMPRESS_THREADS_MAX;
	while (started + 1 < want && started + 1 < p.n &&
	       pthread_create(&tid[started], NULL, compress_thread, &p) == 0)
		started++;
	compress_thread(&p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	free(p.blobs);
	int rc = atomic_load(&p.rc);
	return rc < 0 ? rc : (int)(p.n < INT_MAX ? p.n : INT_MAX);
}

/* Makes the parts of every file's answers, in this generation's arena. */
static int entries_format(struct scan *s)
{
	const char *extra = s->opt->extra_headers ? s->opt->extra_headers : "";
	if (!scan_arena(s))
		return fail(s, -ENOMEM, "out of memory for", "the store");
	if (!(s->extra_lines = lines_intern(s->arena, &s->lines, extra, strlen(extra))))
		return fail(s, -E2BIG, "cannot format", "the --add-header lines");
	for (size_t i = 0; i < s->n; i++) {
		struct cachet_entry *e = &s->v[i];
		if (e->kind != CACHET_ENTRY_FILE)
			continue;
		int rc = entry_answers(s, e);
		if (rc < 0)
			return fail(s, rc, "cannot format headers for", e->path);
	}
	return 0;
}

/* After the scan: variants compressed (unless deferred), then the answers' parts made. */
static int entries_finish(struct scan *s)
{
	if (!s->opt->defer_variants) {
		int rc = compress_entries(s->v, s->n, s->opt->compress_threads, NULL);
		if (rc < 0)
			return fail(s, rc, "cannot compress under", "the root");
	}
	return entries_format(s);
}

static int index_build(struct cachet_store *st)
{
	size_t cap = 16;
	while (cap < st->n_entries * 2) /* load factor <= 0.5 */
		cap <<= 1;
	st->index = calloc(cap, sizeof(*st->index));
	if (!st->index)
		return -ENOMEM;
	st->index_mask = cap - 1;
	for (size_t i = 0; i < st->n_entries; i++) {
		struct cachet_entry *e = &st->entries[i];
		e->hash = XXH3_64bits(e->path, e->path_len);
		size_t slot = e->hash & st->index_mask;
		while (st->index[slot])
			slot = (slot + 1) & st->index_mask;
		st->index[slot] = (uint32_t)i + 1;
	}
	return 0;
}

static const struct {
	int status;
	const char *reason;
	const char *extra; /* header lines beyond the common ones */
} error_table[CACHET_N_ERRORS] = {
    {400, "Bad Request", "Connection: close\r\n"},
    {404, "Not Found", ""},
    {405, "Method Not Allowed", "Allow: GET, HEAD\r\n"},
    {408, "Request Timeout", "Connection: close\r\n"},
    {412, "Precondition Failed", ""},
    {414, "URI Too Long", "Connection: close\r\n"},
    /* an unmet Expect: the body the client may still send is not waited for */
    {417, "Expectation Failed", "Connection: close\r\n"},
    {431, "Request Header Fields Too Large", "Connection: close\r\n"},
    {500, "Internal Server Error", "Connection: close\r\n"},
    {501, "Not Implemented", ""},
    {503, "Service Unavailable", "Connection: close\r\n"},
    {505, "HTTP Version Not Supported", "Connection: close\r\n"},
};

/* Statuses that answer a malformed request say "Connection: close" in their block: what follows
 * on the connection cannot be trusted to start a request (see cachet_reply.close). */
static int error_page_format(struct heads_builder *hb, struct cachet_error *e,
                             const struct cachet_entry *page);

/* The error answers, the 404 from st->error_page when there is one (issue 12). */
static int errors_build(struct cachet_store *st, struct heads_builder *hb)
{
	for (size_t i = 0; i < CACHET_N_ERRORS; i++) {
		struct cachet_error *e = &st->errors[i];
		e->status = error_table[i].status;
		if (e->status == 404 && st->error_page) {
			int rc = error_page_format(hb, e, st->error_page);
			if (rc < 0)
				return rc;
			continue;
		}
		char body[64];
		int n = snprintf(body, sizeof(body), "%d %s\n", error_table[i].status,
		                 error_table[i].reason);
		e->body = strdup(body);
		e->body_len = (size_t)n;
		if (!e->body)
			return -ENOMEM;
		int rc = block_format(hb, &e->block,
		                      "HTTP/1.1 %d %s\r\nDate: " EPOCH_DATE "\r\nServer: cachet\r\n"
		                      "Content-Type: text/plain; charset=utf-8\r\n"
		                      "Content-Length: %d\r\n%s",
		                      e->status, error_table[i].reason, n, error_table[i].extra);
		if (rc < 0)
			return rc;
	}
	int rc = block_format(hb, &st->unsatisfiable,
	                      "HTTP/1.1 416 Range Not Satisfiable\r\nDate: " EPOCH_DATE "\r\n"
	                      "Server: cachet\r\n");
	return rc < 0 ? rc : heads_commit(hb, &st->error_heads);
}

const struct cachet_error *cachet_store_error(const struct cachet_store *st, int status)
{
	for (size_t i = 0; i < CACHET_N_ERRORS; i++)
		if (st->errors[i].status == status)
			return &st->errors[i];
	return cachet_store_error(st, 500);
}

static void entries_free(struct cachet_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].kind == CACHET_ENTRY_REDIRECT)
			heads_unref(v[i].heads);
		free(v[i].link);
		if (v[i].kind == CACHET_ENTRY_FILE)
			cachet_blob_unref(v[i].blob);
	}
	free(v);
}

static int bundle_pass(struct scan *s);

/* Scans ROOT into s (entries with their blocks). */
static int scan_root(struct scan *s, const char *root, char *root_real)
{
	char path[PATH_MAX] = "";
	if (!realpath(root, root_real))
		return fail(s, -errno, "cannot resolve root", root);
	s->root_real = root_real;
	s->root_real_len = strlen(root_real);
	if (s->root_real_len == 1)
		s->root_real_len = 0; /* ROOT is "/": every path is inside */
	s->now = (int64_t)time(NULL);
	int dfd = open(root_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(s, -errno, "cannot open root", root);
	int rc = scan_dir(s, dfd, path, 0);
	close(dfd);
	/* ---- issue 12: what the bundle says of itself (bundle_pass, at the end of this file) */
	if (rc == 0)
		rc = bundle_pass(s);
	/* ---- */
	return rc == 0 ? entries_finish(s) : rc;
}

/* Makes the generation of what s holds (entries pass to it; s->hb is freed). */
static int store_assemble(struct scan *s, uint64_t generation, const enum cachet_coding *prefs,
                          unsigned n_prefs, struct cachet_store **out)
{
	struct cachet_store *st = calloc(1, sizeof(*st));
	free(s->lines.slot);
	s->lines.slot = NULL;
	if (!st) {
		builder_free(s->hb);
		entries_free(s->v, s->n);
		arena_free(s->arena);
		return fail(s, -ENOMEM, "out of memory for", "the store");
	}
	st->arena = s->arena;
	st->extra_headers = s->opt->extra_headers;
	atomic_init(&st->refs, 1);
	st->generation = generation;
	/* the scan grew the array by doubling: what it did not fill goes back */
	struct cachet_entry *fit = s->n ? realloc(s->v, s->n * sizeof(*s->v)) : NULL;
	if (fit)
		s->v = fit; /* it may have moved: everything below reads it through s->v */
	st->entries = s->v;
	st->n_entries = s->n;
	st->files = s->files;
	st->bytes = s->bytes;
	st->reread = s->reread;
	st->identical = s->identical;
	for (unsigned i = 0; i < n_prefs && st->n_prefs < CACHET_CODING_COUNT; i++)
		st->prefs[st->n_prefs++] = prefs[i];
	for (size_t i = 0; i < s->n; i++)
		st->pending += s->v[i].kind == CACHET_ENTRY_FILE && s->v[i].blob->pending;
	/* issue 12: its fallback entry and its 404 page (formatted by errors_build) */
	st->fallback = s->fallback != SIZE_MAX ? &st->entries[s->fallback] : NULL;
	st->error_page = s->error_page != SIZE_MAX ? &st->entries[s->error_page] : NULL;
	int rc = index_build(st) < 0 || errors_build(st, s->hb) < 0 ? -ENOMEM : 0;
	builder_free(s->hb);
	if (rc < 0) {
		cachet_store_unref(st);
		return fail(s, -ENOMEM, "out of memory for", "the index");
	}
	*out = st;
	return 0;
}

/* jemalloc's control interface when the binary is linked with it (weak: sanitizer builds bring
 * their own allocator, and the unit tests may run without it). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/* Gives the pages freed so far back to the system now rather than over jemalloc's 10 s decay
 * (main.c). Called after the first build (the scan's tables and the doubling entry array), when
 * a generation that was still waiting for variants goes (after start-up compression that is tens
 * of MB: the compressors' work areas freed just before), and by the reloader once a rescan has
 * retired the previous generation. */
void cachet_store_trim(void)
{
	if (mallctl)
		(void)mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* MALLCTL_ARENAS_ALL */
}

int cachet_store_build(const char *root, const struct cachet_store *prev,
                       const struct cachet_store_options *opt, struct cachet_store **out, char *err,
                       size_t errlen)
{
	char root_real[PATH_MAX];
	struct scan s = {.prev = prev,
	                 .opt = opt,
	                 .err = err,
	                 .errlen = errlen,
	                 .fallback = SIZE_MAX,
	                 .error_page = SIZE_MAX};
	/* the builder is large (every block of an entry at its longest): on the heap, once */
	s.hb = builder_new();
	int rc = s.hb ? scan_root(&s, root, root_real)
	              : fail(&s, -ENOMEM, "out of memory for", "the store");
	free(s.ct.slot);
	if (rc < 0) {
		builder_free(s.hb);
		entries_free(s.v, s.n);
		free(s.lines.slot);
		arena_free(s.arena);
		return rc;
	}
	rc = store_assemble(&s, opt->generation, opt->codings, opt->n_codings, out);
	if (rc == 0 && !prev)
		cachet_store_trim();
	return rc;
}

int cachet_store_compress(const struct cachet_store *st, unsigned threads,
                          const atomic_bool *cancel)
{
	return compress_entries(st->entries, st->n_entries, threads, cancel);
}

int cachet_store_derive(const struct cachet_store *st, uint64_t generation,
                        struct cachet_store **out)
{
	char err[128];
	/* the --add-header lines of the build it derives from (the caller's, alive as long) */
	const struct cachet_store_options same = {.extra_headers = st->extra_headers};
	struct scan s = {.opt = &same,
	                 .err = err,
	                 .errlen = sizeof(err),
	                 .fallback = st->fallback ? (size_t)(st->fallback - st->entries) : SIZE_MAX,
	                 .error_page =
	                     st->error_page ? (size_t)(st->error_page - st->entries) : SIZE_MAX};
	s.hb = builder_new();
	s.v = calloc(st->n_entries ? st->n_entries : 1, sizeof(*s.v));
	if (!s.hb || !s.v) {
		builder_free(s.hb);
		free(s.v);
		return -ENOMEM;
	}
	s.cap = st->n_entries;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < st->n_entries; i++) {
		const struct cachet_entry *p = &st->entries[i];
		struct cachet_entry *e = &s.v[s.n];
		*e = *p;
		e->link = NULL;
		e->repr = NULL; /* made again in this generation's arena (entries_format) */
		if (!scan_arena(&s) || !(e->path = arena_text(s.arena, p->path, p->path_len))) {
			rc = -ENOMEM;
			break;
		}
		s.n++;
		if (e->kind == CACHET_ENTRY_FILE) {
			cachet_blob_ref(e->blob);
		} else if (e->kind == CACHET_ENTRY_REDIRECT) {
			/* its text is shared; the block that points to it goes in this arena */
			struct cachet_block *b = arena_alloc(s.arena, sizeof(*b));
			if (!b) {
				e->kind = CACHET_ENTRY_ALIAS; /* nothing of its own to free */
				rc = -ENOMEM;
				break;
			}
			*b = *p->redirect;
			e->redirect = b;
			heads_ref(e->heads);
		}
		if (p->link && !(e->link = strdup(p->link)))
			rc = -ENOMEM;
	}
	s.files = st->files;
	s.bytes = st->bytes;
	if (rc == 0)
		rc = entries_format(&s);
	if (rc < 0) {
		builder_free(s.hb);
		entries_free(s.v, s.n);
		free(s.lines.slot);
		arena_free(s.arena);
		return rc;
	}
	return store_assemble(&s, generation, st->prefs, st->n_prefs, out);
}

const struct cachet_entry *cachet_store_lookup(const struct cachet_store *st, const char *path,
                                               size_t len)
{
	uint64_t h = XXH3_64bits(path, len);
	for (size_t slot = h & st->index_mask;; slot = (slot + 1) & st->index_mask) {
		uint32_t i = st->index[slot];
		if (i == 0)
			return NULL;
		const struct cachet_entry *e = &st->entries[i - 1];
		if (e->hash == h && e->path_len == len && memcmp(e->path, path, len) == 0) {
			if (e->kind == CACHET_ENTRY_ALIAS)
				return &st->entries[e->alias_target];
			return e;
		}
	}
}

void cachet_store_ref(struct cachet_store *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
}

void cachet_store_unref(struct cachet_store *st)
{
	if (!st || atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
		return;
	bool purge = st->pending > 0;
	entries_free(st->entries, st->n_entries);
	for (size_t i = 0; i < CACHET_N_ERRORS; i++)
		free((char *)st->errors[i].body);
	heads_unref(st->error_heads);
	arena_free(st->arena); /* after the entries: nothing is read from it while freeing them */
	free(st->index);
	free(st);
	if (purge)
		cachet_store_trim();
}

/* ---- issue 12: bundles (manifests, unmatched globs, preload links, fallback, error page) ---- */

/* After the scan, before the blocks are formatted: the files a bundler manifest names get the
 * immutable policy (manifest.c). */
/* One warning line per glob that matches no file: a glob that silently matches nothing (a typo,
 * or a path the user meant relative to somewhere else) looked like it worked. */
static void warn_unmatched(const struct scan *s, const char *option, const char *const *globs,
                           unsigned n)
{
	for (unsigned g = 0; g < n; g++) {
		size_t i = 0;
		while (i < s->n &&
		       !(s->v[i].kind == CACHET_ENTRY_FILE &&
		         cachet_cache_policy_glob_match(globs[g], s->v[i].path, s->v[i].path_len)))
			i++;
		if (i == s->n)
			fprintf(stderr, "cachet: warning: %s '%s' matches no file under %s\n",
			        option, globs[g], s->root_real);
	}
}

/* The file entry of store key path among the scanned entries ("/dir/" resolved to its index),
 * or SIZE_MAX. A linear search: the index does not exist yet, and this runs twice a build. */
static size_t scanned_file(const struct scan *s, const char *path)
{
	size_t len = strlen(path);
	for (size_t i = 0; i < s->n; i++) {
		const struct cachet_entry *e = &s->v[i];
		if (e->path_len != len || memcmp(e->path, path, len) != 0)
			continue;
		if (e->kind == CACHET_ENTRY_ALIAS)
			return e->alias_target;
		return e->kind == CACHET_ENTRY_FILE ? i : SIZE_MAX;
	}
	return SIZE_MAX;
}

/* A --fallback or --error-page file that is not there fails the build: at start-up cachet
 * exits 2, on a rescan the old generation keeps serving (its page included). */
static int required_file(struct scan *s, const char *option, const char *path, size_t *at)
{
	*at = SIZE_MAX;
	if (!path)
		return 0;
	*at = scanned_file(s, path);
	if (*at != SIZE_MAX)
		return 0;
	snprintf(s->err, s->errlen, "%s %s: no such file under %s", option, path, s->root_real);
	return -ENOENT;
}

static int bundle_pass(struct scan *s)
{
	const struct cachet_cache_policy *p = s->opt->cache;
	int rc = cachet_manifest_apply(s->root_real, s->v, s->n, p);
	if (rc < 0)
		return fail(s, rc, "cannot read the manifests under", "the root");
	if (p) {
		warn_unmatched(s, "--cache-immutable", p->globs, p->n_globs);
		warn_unmatched(s, "--cache-revalidate", p->revalidate_globs, p->n_revalidate);
	}
	if (s->opt->link_preload && cachet_link_preload_apply(s->v, s->n) < 0)
		return fail(s, -ENOMEM, "out of memory for", "the preload links");
	if ((rc = required_file(s, "--fallback", s->opt->fallback, &s->fallback)) < 0 ||
	    (rc = required_file(s, "--error-page 404=", s->opt->error_page, &s->error_page)) < 0)
		return rc;
	return 0;
}

/* The 404 answer with the --error-page file as its body: its own Content-Type, status 404, no
 * Cache-Control (never the immutable policy), formatted with the other errors (errors_build). The
 * body is a copy, owned by the error like the plain text it replaces (freed in
 * cachet_store_unref). */
static int error_page_format(struct heads_builder *hb, struct cachet_error *e,
                             const struct cachet_entry *page)
{
	char *body = malloc(page->blob->len ? page->blob->len : 1);
	if (!body)
		return -ENOMEM;
	memcpy(body, page->blob->data, page->blob->len);
	int rc = block_format(hb, &e->block,
	                      "HTTP/1.1 404 Not Found\r\nDate: " EPOCH_DATE "\r\nServer: cachet\r\n"
	                      "Content-Type: %s\r\nContent-Length: %zu\r\n",
	                      page->content_type, page->blob->len);
	if (rc < 0) {
		free(body);
		return rc;
	}
	e->body = body;
	e->body_len = page->blob->len;
	return 0;
}
