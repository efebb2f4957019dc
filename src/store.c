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
#include "cachet/mime.h"

/* Directory nesting followed at most; deeper trees are refused rather than risking the stack. */
#define SCAN_DEPTH_MAX 64

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
	char *err;
	size_t errlen;
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

static int block_format(struct cachet_block *blk, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats a header block whose second line is "Date: " followed by a placeholder date. */
static int block_format(struct cachet_block *blk, const char *fmt, ...)
{
	char tmp[CACHET_BLOCK_MAX];
	va_list ap;
	va_start(ap, fmt);
	/* clang 14's analyzer loses track of va_start here (a known false positive) */
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -E2BIG;
	const char *d = strstr(tmp, "\r\n" CACHET_BLOCK_DATE_NAME);
	if (!d)
		return -EINVAL;
	blk->text = malloc((size_t)n + 1);
	if (!blk->text)
		return -ENOMEM;
	memcpy(blk->text, tmp, (size_t)n + 1);
	blk->len = (uint32_t)n;
	blk->date_off = (uint32_t)(d - tmp) + 2 + sizeof(CACHET_BLOCK_DATE_NAME) - 1;
	blk->closes = strstr(tmp, "\r\nConnection: close\r\n") != NULL;
	/* HTTP/2: the same block as HPACK, made here so every block has its twin (hpack.h) */
	int rc = cachet_hpack_block_build(blk->text, blk->len, &blk->h2);
	if (rc < 0) {
		free(blk->text);
		blk->text = NULL;
	}
	return rc;
}

/* Frees what block_format() allocated; safe on a zeroed block. */
static void block_free(struct cachet_block *blk)
{
	free(blk->text);
	cachet_hpack_block_free(&blk->h2);
}

#define EPOCH_DATE "Thu, 01 Jan 1970 00:00:00 GMT"

/* The blocks of one representation. RFC 9110 §15.4.5: the 304 carries Date, ETag and the
 * cache-related fields the 200 would (Cache-Control, Vary), and no representation metadata. */
static int repr_blocks(const struct cachet_entry *e, unsigned coding, struct cachet_repr *r)
{
	const char *extra = e->extra_headers;
	char lm[CACHET_HTTPDATE_LEN + 1], vary[32] = "", enc[48] = "", common[CACHET_BLOCK_MAX];
	cachet_httpdate_format(e->last_modified, lm);
	lm[CACHET_HTTPDATE_LEN] = '\0';
	if (e->available != 1u << CACHET_CODING_IDENTITY)
		strcpy(vary, "Vary: Accept-Encoding\r\n");
	if (coding != CACHET_CODING_IDENTITY)
		snprintf(enc, sizeof(enc), "Content-Encoding: %s\r\n",
		         cachet_encoding_name(coding));
	int n = snprintf(common, sizeof(common),
	                 "Server: cachet\r\nContent-Type: %s\r\nLast-Modified: %s\r\nETag: %.*s\r\n"
	                 "Cache-Control: %s\r\n%s%sAccept-Ranges: bytes\r\n%s",
	                 e->content_type, lm, (int)r->etag_len, r->etag, e->cache_control, vary,
	                 enc, extra);
	if (n < 0 || (size_t)n >= sizeof(common))
		return -E2BIG;
	int rc = block_format(
	    &r->ok, "HTTP/1.1 200 OK\r\nDate: " EPOCH_DATE "\r\n%sContent-Length: %zu\r\n", common,
	    r->body_len);
	if (rc == 0)
		rc = block_format(&r->partial,
		                  "HTTP/1.1 206 Partial Content\r\nDate: " EPOCH_DATE "\r\n%s",
		                  common);
	if (rc == 0)
		rc = block_format(&r->not_modified,
		                  "HTTP/1.1 304 Not Modified\r\nDate: " EPOCH_DATE
		                  "\r\nServer: cachet\r\n"
		                  "ETag: %.*s\r\nCache-Control: %s\r\n%s%s",
		                  (int)r->etag_len, r->etag, e->cache_control, vary, extra);
	if (rc == 0)
		rc = block_format(
		    &r->unsatisfiable,
		    "HTTP/1.1 416 Range Not Satisfiable\r\nDate: " EPOCH_DATE "\r\n"
		    "Server: cachet\r\nContent-Range: bytes */%zu\r\nContent-Length: 0\r\n%s",
		    r->body_len, vary);
	return rc;
}

/* Fills every representation the blob has, then formats their blocks. */
static int entry_reprs(struct cachet_entry *e)
{
	const struct cachet_blob *b = e->blob;
	e->available = b->available;
	for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) {
		if (!(b->available & (1u << c)))
			continue;
		struct cachet_repr *r = &e->repr[c];
		if (c == CACHET_CODING_IDENTITY) {
			*r = (struct cachet_repr){.body = b->data,
			                          .body_len = b->len,
			                          .etag = b->etag,
			                          .etag_len = b->etag_len};
		} else {
			const struct cachet_variant *v = &b->variants[c];
			*r = (struct cachet_repr){.body = v->data,
			                          .body_len = v->len,
			                          .etag = v->etag,
			                          .etag_len = v->etag_len};
		}
		int rc = repr_blocks(e, c, r);
		if (rc < 0)
			return rc;
	}
	return 0;
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

static struct cachet_blob *prev_blob(const struct scan *s, const char *path, size_t len)
{
	const struct cachet_entry *e = s->prev ? cachet_store_lookup(s->prev, path, len) : NULL;
	return e && e->kind == CACHET_ENTRY_FILE ? e->blob : NULL;
}

static int add_file(struct scan *s, int dfd, const char *name, int fd, const char *path,
                    const struct stat *st)
{
	size_t plen = strlen(path);
	if (s->opt->max_files && s->files >= s->opt->max_files)
		return fail(s, -EFBIG, "over --max-files at", path);
	if (s->opt->max_bytes && s->bytes + (size_t)st->st_size > s->opt->max_bytes)
		return fail(s, -EFBIG, "over --max-memory at", path);
	const char *type = cachet_mime_type(name, strlen(name));
	struct cachet_blob_source src = {.dfd = dfd,
	                                 .name = name,
	                                 .fd = fd,
	                                 .st = st,
	                                 .wanted = wanted_codings(s, type),
	                                 .defer_compress = s->opt->compress_threads > 1};
	struct cachet_blob *b;
	int rc = cachet_blob_load(&src, prev_blob(s, path, plen), &b);
	if (rc < 0)
		return fail(s, rc, "cannot read", path);
	struct cachet_entry *e = entry_push(s);
	if (!e || !(e->path = strdup(path))) {
		cachet_blob_unref(b);
		return fail(s, -ENOMEM, "out of memory at", path);
	}
	e->path_len = (uint32_t)plen;
	e->kind = CACHET_ENTRY_FILE;
	e->blob = b;
	e->last_modified = st->st_mtim.tv_sec < s->now ? st->st_mtim.tv_sec : s->now;
	e->content_type = type;
	e->cache_control = cachet_cache_policy_for(s->opt->cache, path, plen);
	e->extra_headers = s->opt->extra_headers ? s->opt->extra_headers : "";
	s->files++; /* its blocks are formatted once its variants exist (entries_finish) */
	s->bytes += b->len;
	return 0;
}

/* Adds "/dir/" as a second key of "/dir/index.html", and "/dir" as a 301 to "/dir/". */
static int add_directory_keys(struct scan *s, const char *dir, size_t index_entry)
{
	struct cachet_entry *e = entry_push(s);
	size_t dlen = strlen(dir);
	if (!e || !(e->path = malloc(dlen + 2)))
		return fail(s, -ENOMEM, "out of memory at", dir);
	memcpy(e->path, dir, dlen);
	e->path[dlen] = '/';
	e->path[dlen + 1] = '\0';
	e->path_len = (uint32_t)dlen + 1;
	e->kind = CACHET_ENTRY_ALIAS;
	e->alias_target = index_entry;
	if (dlen == 0)
		return 0; /* ROOT: "/" is the only key; there is no "" to redirect */
	e = entry_push(s);
	if (!e || !(e->path = strdup(dir)))
		return fail(s, -ENOMEM, "out of memory at", dir);
	e->path_len = (uint32_t)dlen;
	e->kind = CACHET_ENTRY_REDIRECT;
	return block_format(&e->redirect,
	                    "HTTP/1.1 301 Moved Permanently\r\nDate: " EPOCH_DATE "\r\n"
	                    "Server: cachet\r\nLocation: %s/\r\nContent-Length: 0\r\n%s",
	                    dir, s->opt->extra_headers ? s->opt->extra_headers : "");
}

static int scan_dir(struct scan *s, int dfd, char *path, size_t plen);

/* Whether a symlink at path resolves inside ROOT. */
static bool link_inside_root(const struct scan *s, int dfd, const char *name)
{
	char proc[64], real[PATH_MAX];
	int fd = openat(dfd, name, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return false;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	bool inside = false;
	if (realpath(proc, real))
		inside = strncmp(real, s->root_real, s->root_real_len) == 0 &&
		         (real[s->root_real_len] == '/' || real[s->root_real_len] == '\0');
	close(fd);
	return inside;
}

/* One directory entry: a regular file is loaded, a directory is descended into. */
static int scan_one(struct scan *s, int dfd, const struct dirent *de, char *path, size_t plen)
{
	const char *name = de->d_name;
	size_t nlen = strlen(name);
	if (name[0] == '.')
		return 0; /* dotfiles and dot-directories are never served */
	if (plen + 1 + nlen >= PATH_MAX)
		return fail(s, -ENAMETOOLONG, "path too long under", path[0] ? path : "/");
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(s, -errno, "cannot stat", name);
	if (S_ISLNK(st.st_mode)) {
		if (!link_inside_root(s, dfd, name) || fstatat(dfd, name, &st, 0) < 0)
			return 0; /* leaves ROOT, or dangles: never served */
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return 0;
	path[plen] = '/';
	memcpy(path + plen + 1, name, nlen + 1);
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	int rc;
	if (fd < 0)
		rc = fail(s, -errno, "cannot open", path);
	else if (S_ISREG(st.st_mode))
		rc = add_file(s, dfd, name, fd, path, &st);
	else
		rc = scan_dir(s, fd, path, plen + 1 + nlen);
	if (fd >= 0)
		close(fd);
	path[plen] = '\0';
	return rc;
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
	int rc = 0;
	size_t first = s->n;
	const struct dirent *de;
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL)
		rc = scan_one(s, dfd, de, path, plen);
	if (rc == 0 && errno != 0)
		rc = fail(s, -errno, "cannot list", path[0] ? path : "/");
	closedir(d);
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
};

/* One compression thread: takes blobs until none is left. Blobs are distinct, so threads never
 * touch the same memory. */
static void *compress_thread(void *arg)
{
	struct compress_pool *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			return NULL;
		int rc = cachet_blob_compress_pending(p->blobs[i]);
		if (rc < 0)
			atomic_store(&p->rc, rc);
	}
}

/* Compresses every pending variant on up to opt->compress_threads threads (this one included):
 * at start-up a tree of text assets compresses on every core, not one. */
static int compress_pending(struct scan *s)
{
	struct compress_pool p = {.blobs = calloc(s->n ? s->n : 1, sizeof(struct cachet_blob *))};
	pthread_t threads[CACHET_COMPRESS_THREADS_MAX];
	unsigned started = 0;
	if (!p.blobs)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].kind == CACHET_ENTRY_FILE && s->v[i].blob->pending)
			p.blobs[p.n++] = s->v[i].blob;
	atomic_init(&p.next, 0);
	atomic_init(&p.rc, 0);
	unsigned want = s->opt->compress_threads < CACHET_COMPRESS_THREADS_MAX
	                    ? s->opt->compress_threads
	                    : CACHET_COMPRESS_THREADS_MAX;
	while (started + 1 < want && started + 1 < p.n &&
	       pthread_create(&threads[started], NULL, compress_thread, &p) == 0)
		started++;
	compress_thread(&p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(p.blobs);
	return atomic_load(&p.rc);
}

/* After the scan: variants compressed, then every file's blocks formatted. */
static int entries_finish(struct scan *s)
{
	int rc = compress_pending(s);
	if (rc < 0)
		return fail(s, rc, "cannot compress under", "the root");
	for (size_t i = 0; i < s->n; i++) {
		struct cachet_entry *e = &s->v[i];
		if (e->kind == CACHET_ENTRY_FILE && (rc = entry_reprs(e)) < 0)
			return fail(s, rc, "cannot format headers for", e->path);
	}
	return 0;
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
    {431, "Request Header Fields Too Large", "Connection: close\r\n"},
    {500, "Internal Server Error", "Connection: close\r\n"},
    {501, "Not Implemented", ""},
    {503, "Service Unavailable", "Connection: close\r\n"},
    {505, "HTTP Version Not Supported", "Connection: close\r\n"},
};

/* Statuses that answer a malformed request say "Connection: close" in their block: what follows
 * on the connection cannot be trusted to start a request (see cachet_reply.close). */
static int errors_build(struct cachet_store *st)
{
	for (size_t i = 0; i < CACHET_N_ERRORS; i++) {
		struct cachet_error *e = &st->errors[i];
		char body[64];
		int n = snprintf(body, sizeof(body), "%d %s\n", error_table[i].status,
		                 error_table[i].reason);
		e->status = error_table[i].status;
		e->body = strdup(body);
		e->body_len = (size_t)n;
		if (!e->body)
			return -ENOMEM;
		int rc = block_format(&e->block,
		                      "HTTP/1.1 %d %s\r\nDate: " EPOCH_DATE "\r\nServer: cachet\r\n"
		                      "Content-Type: text/plain; charset=utf-8\r\n"
		                      "Content-Length: %d\r\n%s",
		                      e->status, error_table[i].reason, n, error_table[i].extra);
		if (rc < 0)
			return rc;
	}
	return 0;
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
		free(v[i].path);
		for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) {
			struct cachet_repr *r = &v[i].repr[c];
			block_free(&r->ok);
			block_free(&r->partial);
			block_free(&r->not_modified);
			block_free(&r->unsatisfiable);
		}
		block_free(&v[i].redirect);
		if (v[i].kind == CACHET_ENTRY_FILE)
			cachet_blob_unref(v[i].blob);
	}
	free(v);
}

int cachet_store_build(const char *root, const struct cachet_store *prev,
                       const struct cachet_store_options *opt, struct cachet_store **out, char *err,
                       size_t errlen)
{
	char root_real[PATH_MAX], path[PATH_MAX] = "";
	struct scan s = {.prev = prev, .opt = opt, .err = err, .errlen = errlen};
	if (!realpath(root, root_real))
		return fail(&s, -errno, "cannot resolve root", root);
	s.root_real = root_real;
	s.root_real_len = strlen(root_real);
	if (s.root_real_len == 1)
		s.root_real_len = 0; /* ROOT is "/": every path is inside */
	s.now = (int64_t)time(NULL);
	int dfd = open(root_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(&s, -errno, "cannot open root", root);
	int rc = scan_dir(&s, dfd, path, 0);
	close(dfd);
	if (rc == 0)
		rc = entries_finish(&s);
	struct cachet_store *st = rc == 0 ? calloc(1, sizeof(*st)) : NULL;
	if (!st) {
		entries_free(s.v, s.n);
		return rc < 0 ? rc : fail(&s, -ENOMEM, "out of memory for", "the store");
	}
	atomic_init(&st->refs, 1);
	st->generation = opt->generation;
	st->entries = s.v;
	st->n_entries = s.n;
	st->files = s.files;
	st->bytes = s.bytes;
	for (unsigned i = 0; i < opt->n_codings && st->n_prefs < CACHET_CODING_COUNT; i++)
		st->prefs[st->n_prefs++] = opt->codings[i];
	if (index_build(st) < 0 || errors_build(st) < 0) {
		cachet_store_unref(st);
		return fail(&s, -ENOMEM, "out of memory for", "the index");
	}
	*out = st;
	return 0;
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
	entries_free(st->entries, st->n_entries);
	for (size_t i = 0; i < CACHET_N_ERRORS; i++) {
		block_free(&st->errors[i].block);
		free((char *)st->errors[i].body);
	}
	free(st->index);
	free(st);
}
