/* blob.c - reading files, hashing them, making or reading their coded variants. Runs while a
 * generation is built (start-up or the reload thread), never on a request path. */
#define _GNU_SOURCE
#include "cachet/blob.h"

#include <errno.h>
#include <fcntl.h>
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

static bool sig_equal(const struct cachet_file_sig *a, const struct cachet_file_sig *b)
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
	for (unsigned c = 0; c < CACHET_CODING_COUNT; c++)
		free(b->variants[c].data);
	free(b);
}

static int read_all(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno
			             : -EIO; /* a file that shrank while read is an error */
		got += (size_t)r;
	}
	return 0;
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

static int sidecar_read(const struct cachet_blob_source *src, unsigned coding,
                        struct cachet_variant *v)
{
	char name[512];
	snprintf(name, sizeof(name), "%s%s", src->name, cachet_encoding_suffix(coding));
	int fd = openat(src->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	v->len = (size_t)v->sidecar.size;
	v->data = malloc(v->len ? v->len : 1);
	int rc = v->data ? read_all(fd, v->data, v->len) : -ENOMEM;
	close(fd);
	return rc;
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
	struct cachet_variant *v = &b->variants[coding];
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
	struct cachet_variant *v = &b->variants[coding];
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
		struct cachet_variant *v = &b->variants[c];
		int rc = variant_keep(b, c, cachet_compress(c, b->data, b->len, &v->data, &v->len));
		if (rc < 0)
			return rc;
		b->pending &= ~(1u << c);
	}
	return 0;
}

/* The previous blob still describes the file and every sidecar (sidecars[] as taken now). */
static bool reusable(const struct cachet_blob_source *src, const struct cachet_blob *prev,
                     const struct cachet_file_sig *sidecars)
{
	struct cachet_file_sig sig = cachet_blob_sig(src->st);
	if (!prev || !sig_equal(&prev->sig, &sig) || prev->wanted != src->wanted)
		return false;
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++)
		if ((src->wanted & (1u << c)) &&
		    !sig_equal(&sidecars[c], &prev->variants[c].sidecar))
			return false;
	return true;
}

int cachet_blob_load(const struct cachet_blob_source *src, struct cachet_blob *prev,
                     struct cachet_blob **out)
{
	/* each sidecar is looked at once: for the reuse check and, if the file changed, to load it
	 */
	struct cachet_file_sig sidecars[CACHET_CODING_COUNT] = {0};
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++)
		if (src->wanted & (1u << c))
			sidecars[c] = sidecar_sig(src, c);
	if (reusable(src, prev, sidecars)) {
		cachet_blob_ref(prev);
		*out = prev;
		return 0;
	}
	size_t len = (size_t)src->st->st_size;
	struct cachet_blob *b = calloc(1, sizeof(*b) + len + 1);
	if (!b)
		return -ENOMEM;
	atomic_init(&b->refs, 1);
	int rc = read_all(src->fd, b->data, len);
	b->sig = cachet_blob_sig(src->st);
	b->len = len;
	b->wanted = src->wanted;
	b->available = 1u << CACHET_CODING_IDENTITY;
	b->etag_len = cachet_etag_from_bytes(b->data, len, b->etag);
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
