/* blob.c - reading files, hashing them, making or reading their coded variants. Runs while a
 * generation is built (start-up or the reload thread), never on a request path. */
#define _GNU_SOURCE
#include "cachet/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cachet/compress.h"

struct cachet_file_sig cachet_blob_sig(const struct stat *st)
{
	return (struct cachet_file_sig){
	    .dev = st->st_dev,
	    .ino = st->st_ino,
	    .size = st->st_size,
	    .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
	};
}

bool cachet_blob_sig_equal(const struct cachet_file_sig *a, const struct cachet_file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

void cachet_blob_ref(struct cachet_blob *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void cachet_blob_unref(struct cachet_blob *b)
{
	if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (unsigned c = 0; b->variants && c + 1 < CACHET_CODING_COUNT; c++)
		free(b->variants[c].data);
	free(b->variants);
	free(b);
}

/* Reads fd from offset 0 until EOF into buf (cap bytes); *got is how many came. */
static int read_to_eof(int fd, unsigned char *buf, size_t cap, size_t *got)
{
	*got = 0;
	while (*got < cap) {
		ssize_t r = pread(fd, buf + *got, cap - *got, (off_t)*got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/* Whether a read of got bytes matches the file as fstat now sees it (st as taken before the
 * read): a file rewritten in place while read shows another size or mtime afterwards. */
static int read_settled(int fd, struct stat *st, size_t got)
{
	struct stat now;
	if (fstat(fd, &now) < 0)
		return -errno;
	bool same = now.st_size == st->st_size && now.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	            now.st_mtim.tv_nsec == st->st_mtim.tv_nsec && (size_t)now.st_size == got;
	*st = now;
	return same ? 1 : 0;
}

/* Tries at reading a file that keeps changing while read before giving up (-EAGAIN). */
#define READ_TRIES 4

/* Reads the whole file behind fd into one new allocation of head + size + 1 bytes (the bytes at
 * head, NUL-terminated), sized by fstat of the descriptor and checked after the read: a file
 * rewritten in place meanwhile is read again, so what is kept is one consistent state of it,
 * never a truncated one under a strong ETag. st: the descriptor's fstat, updated to the state
 * read. hook (may be NULL) runs before each read, for tests. */
static int read_whole(int fd, struct stat *st, size_t head, void **out,
                      const struct cachet_blob_source *hook_src)
{
	for (int i = 0; i < READ_TRIES; i++) {
		size_t len = (size_t)st->st_size, got;
		unsigned char *p = calloc(1, head + len + 1);
		if (!p)
			return -ENOMEM;
		if (hook_src && hook_src->hook)
			hook_src->hook(hook_src->hook_arg, hook_src->name, 1);
		int rc = read_to_eof(fd, p + head, len + 1, &got);
		if (rc == 0)
			rc = read_settled(fd, st, got);
		if (rc == 1) {
			p[head + len] = 0;
			*out = p;
			return 0;
		}
		free(p);
		if (rc < 0)
			return rc;
	}
	return -EAGAIN;
}

/* The sidecar NAME<suffix> beside the file, if it is a regular file (links are not followed:
 * a sidecar must not be a way out of ROOT). */
static struct cachet_file_sig sidecar_sig(const struct cachet_blob_source *src, unsigned coding)
{
	char name[512];
	struct stat st;
	struct cachet_file_sig none = {0};
	int n = snprintf(name, sizeof(name), "%s%s", src->name, cachet_encoding_suffix(coding));
	if (n < 0 || (size_t)n >= sizeof(name) ||
	    fstatat(src->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return none;
	return cachet_blob_sig(&st);
}

/* Opens and checks the sidecar itself (never through a link, never a special file) and reads
 * what its descriptor holds; v->sidecar becomes the signature of what was read. */
static int sidecar_read(const struct cachet_blob_source *src, unsigned coding,
                        struct cachet_variant *v)
{
	char name[512];
	struct stat st;
	snprintf(name, sizeof(name), "%s%s", src->name, cachet_encoding_suffix(coding));
	int fd = openat(src->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) /* gone, or swapped for a link or a special file: no sidecar */
		return errno == ENOENT || errno == ELOOP || errno == ENXIO ? -EINVAL : -errno;
	void *data = NULL;
	int rc = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (rc == 0)
		rc = read_whole(fd, &st, 0, &data, NULL);
	close(fd);
	if (rc < 0)
		return rc;
	v->data = data;
	v->len = (size_t)st.st_size;
	v->sidecar = cachet_blob_sig(&st);
	return 0;
}

static void variant_etag(const struct cachet_blob *b, unsigned coding, struct cachet_variant *v)
{
	uint32_t h = (uint32_t)XXH3_64bits(v->data, v->len);
	int n = snprintf(v->etag, sizeof(v->etag), "%.*s-%08x-%s\"", (int)b->etag_len - 1, b->etag,
	                 h, cachet_encoding_name(coding));
	v->etag_len = (size_t)n;
}

/* Keeps the variant v holds (read or compressed) when it is worth it; rc is how making it went. */
static int variant_keep(struct cachet_blob *b, unsigned coding, int rc)
{
	struct cachet_variant *v = &b->variants[coding - 1];
	if (rc < 0 && rc != -EINVAL)
		return rc;
	if (rc < 0 || !cachet_compress_worth_it(b->len, v->len)) {
		free(v->data);
		v->data = NULL;
		return 0;
	}
	variant_etag(b, coding, v);
	b->available |= 1u << coding;
	return 0;
}

/* Makes the variant for one coding: from its sidecar (whose signature the caller took) now, or by
 * compressing (now, or later in cachet_blob_compress_pending() when the caller defers it). */
static int variant_make(const struct cachet_blob_source *src, struct cachet_blob *b,
                        unsigned coding, const struct cachet_file_sig *sidecar)
{
	struct cachet_variant *v = &b->variants[coding - 1];
	v->sidecar = *sidecar;
	if (v->sidecar.ino)
		return variant_keep(b, coding, sidecar_read(src, coding, v));
	if (src->defer_compress) {
		b->pending |= 1u << coding;
		return 0;
	}
	return variant_keep(b, coding, cachet_compress(coding, b->data, b->len, &v->data, &v->len));
}

int cachet_blob_compress_pending(struct cachet_blob *b)
{
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++) {
		if (!(b->pending & (1u << c)))
			continue;
		struct cachet_variant *v = &b->variants[c - 1];
		int rc = variant_keep(b, c, cachet_compress(c, b->data, b->len, &v->data, &v->len));
		if (rc < 0)
			return rc;
		b->pending &= ~(1u << c);
	}
	return 0;
}

/* The sidecar signatures as they are now, for the wanted codings whose sidecar name the caller
 * saw listed (src->sidecars): no stat at all for a file without sidecars. */
static void sidecars_now(const struct cachet_blob_source *src,
                         struct cachet_file_sig sidecars[CACHET_CODING_COUNT])
{
	memset(sidecars, 0, CACHET_CODING_COUNT * sizeof(*sidecars));
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++)
		if (src->wanted & src->sidecars & (1u << c))
			sidecars[c] = sidecar_sig(src, c);
}

bool cachet_blob_current(const struct cachet_blob *b, const struct cachet_blob_source *src)
{
	struct cachet_file_sig sidecars[CACHET_CODING_COUNT];
	if (b->wanted != src->wanted)
		return false;
	sidecars_now(src, sidecars);
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++)
		if ((src->wanted & (1u << c)) &&
		    !cachet_blob_sig_equal(&sidecars[c], &b->variants[c - 1].sidecar))
			return false;
	return true;
}

bool cachet_blob_from_sidecar(const struct cachet_blob *b)
{
	for (unsigned c = 1; b->variants && c < CACHET_CODING_COUNT; c++)
		if (b->variants[c - 1].sidecar.ino)
			return true;
	return false;
}

int cachet_blob_load(const struct cachet_blob_source *src, struct cachet_blob **out)
{
	/* each sidecar is looked at once, before the file is read */
	struct cachet_file_sig sidecars[CACHET_CODING_COUNT];
	sidecars_now(src, sidecars);
	void *mem;
	int rc = read_whole(src->fd, src->st, offsetof(struct cachet_blob, data), &mem, src);
	if (rc < 0)
		return rc;
	struct cachet_blob *b = mem;
	size_t len = (size_t)src->st->st_size;
	atomic_init(&b->refs, 1);
	b->sig = cachet_blob_sig(src->st);
	b->len = len;
	b->hash = XXH3_64bits(b->data, len);
	b->wanted = src->wanted;
	b->available = 1u << CACHET_CODING_IDENTITY;
	b->etag_len = cachet_etag_from_bytes(b->data, len, b->etag);
	if (src->wanted && !(b->variants = calloc(CACHET_CODING_COUNT - 1, sizeof(*b->variants))))
		rc = -ENOMEM;
	for (unsigned c = 1; rc == 0 && c < CACHET_CODING_COUNT; c++)
		if (src->wanted & (1u << c))
			rc = variant_make(src, b, c, &sidecars[c]);
	if (rc < 0) {
		cachet_blob_unref(b);
		return rc;
	}
	*out = b;
	return 0;
}
