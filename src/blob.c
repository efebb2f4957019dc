/* blob.c - reading files, hashing them, making or reading their coded variants. Runs while a
 * generation is built (start-up or the reload thread), never on a request path. */
#define _GNU_SOURCE
#include "cachet/blob.h"

#include <assert.h>
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

/* What was read from one sidecar: its bytes and the ETag made from them, one allocation. */
struct sidecar_bytes {
	size_t len;
	size_t etag_len;
	char etag[CACHET_ETAG_MAX];
	unsigned char data[];
};

struct cachet_blob_sidecars {
	/* coding c at [c - 1]: the sidecar as it was read (or seen, when reading it failed); all
	 * zero: none listed beside the file */
	struct cachet_file_sig sig[CACHET_CODING_COUNT - 1];
	/* what was read; NULL: none, refused, or freed once no generation could use it */
	struct sidecar_bytes *read[CACHET_CODING_COUNT - 1];
};

static void sidecars_free(struct cachet_blob_sidecars *sc)
{
	for (unsigned c = 0; sc && c + 1 < CACHET_CODING_COUNT; c++)
		free(sc->read[c]);
	free(sc);
}

void cachet_blob_unref(struct cachet_blob *b)
{
	if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(b->variants); /* the made variants' bytes with it */
	sidecars_free(b->sidecars);
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
 * what its descriptor holds; *sig becomes the signature of what was read. */
static int sidecar_read(const struct cachet_blob_source *src, unsigned coding,
                        struct sidecar_bytes **out, struct cachet_file_sig *sig)
{
	char name[512];
	struct stat st;
	snprintf(name, sizeof(name), "%s%s", src->name, cachet_encoding_suffix(coding));
	int fd = openat(src->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) /* gone, or swapped for a link or a special file: no sidecar */
		return errno == ENOENT || errno == ELOOP || errno == ENXIO ? -EINVAL : -errno;
	void *mem = NULL;
	int rc = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (rc == 0)
		rc = read_whole(fd, &st, offsetof(struct sidecar_bytes, data), &mem, NULL);
	close(fd);
	if (rc != 0 || !mem)
		return rc < 0 ? rc : -EIO;
	*out = mem;
	(*out)->len = (size_t)st.st_size;
	*sig = cachet_blob_sig(&st);
	return 0;
}

/* Writes the ETag of coding's variant data[0..len) of b into out; returns its length. */
static size_t variant_etag(const struct cachet_blob *b, unsigned coding, const void *data,
                           size_t len, char out[CACHET_ETAG_MAX])
{
	uint32_t h = (uint32_t)XXH3_64bits(data, len);
	int n = snprintf(out, CACHET_ETAG_MAX, "%.*s-%08x-%s\"", (int)b->etag_len - 1, b->etag, h,
	                 cachet_encoding_name(coding));
	return (size_t)n;
}

/* Reads the sidecars whose signature the caller took (nonzero in sigs) into b->sidecars, which
 * exists only for a file with one. A sidecar that cannot be read as a regular file gives no
 * variant, but its signature is kept, so that the blob is current while it stays so. */
static int sidecars_load(const struct cachet_blob_source *src, struct cachet_blob *b,
                         const struct cachet_file_sig sigs[CACHET_CODING_COUNT])
{
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++) {
		if (!sigs[c].ino)
			continue;
		if (!b->sidecars && !(b->sidecars = calloc(1, sizeof(*b->sidecars))))
			return -ENOMEM;
		struct cachet_blob_sidecars *sc = b->sidecars;
		sc->sig[c - 1] = sigs[c];
		int rc = sidecar_read(src, c, &sc->read[c - 1], &sc->sig[c - 1]);
		if (rc < 0 && rc != -EINVAL)
			return rc;
		if (rc == 0) {
			struct sidecar_bytes *r = sc->read[c - 1];
			r->etag_len = variant_etag(b, c, r->data, r->len, r->etag);
		}
	}
	return 0;
}

/* A file's variants before the choice, coding c at [c]: the sidecars' and those just made. */
struct candidates {
	unsigned have; /* codings with a candidate (bitmask) */
	size_t len[CACHET_CODING_COUNT];
	const unsigned char *data[CACHET_CODING_COUNT];
	/* compressor output (the caller frees), or NULL */
	unsigned char *made[CACHET_CODING_COUNT];
	/* a sidecar's ETag (a made variant gets its own when packed) */
	const char *etag[CACHET_CODING_COUNT];
	size_t etag_len[CACHET_CODING_COUNT];
};

/* Chooses among cd's variants (cachet_compress_choose) and packs the records of the kept ones,
 * then the ETags and bytes of those made by compressing, into one allocation that replaces
 * b->variants (see the ownership rule in blob.h); pending: the codings still to compress after
 * this. Once none is, the sidecar bytes that are not kept and that no generation could have been
 * given (not in b->available before) are freed. */
static int variants_pack(struct cachet_blob *b, const struct candidates *cd, unsigned pending)
{
	unsigned kept = cachet_compress_choose(b->len, cd->len, cd->have);
	char etag[CACHET_CODING_COUNT][CACHET_ETAG_MAX];
	size_t etag_len[CACHET_CODING_COUNT] = {0}, n = 0, size = 0;
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++) {
		if (!(kept & (1u << c)))
			continue;
		n++;
		if (cd->made[c]) {
			etag_len[c] = variant_etag(b, c, cd->made[c], cd->len[c], etag[c]);
			size += etag_len[c] + cd->len[c];
		}
	}
	struct cachet_variant *v = NULL;
	if (n && !(v = malloc(n * sizeof(*v) + size)))
		return -ENOMEM;
	char *p = (char *)(v + n);
	for (unsigned c = 1, i = 0; c < CACHET_CODING_COUNT; c++) {
		if (!(kept & (1u << c)))
			continue;
		if (cd->made[c]) {
			v[i] = (struct cachet_variant){
			    .etag = memcpy(p, etag[c], etag_len[c]),
			    .etag_len = etag_len[c],
			    .data = memcpy(p + etag_len[c], cd->made[c], cd->len[c]),
			    .len = cd->len[c]};
			p += etag_len[c] + cd->len[c];
		} else {
			v[i] = (struct cachet_variant){.data = cd->data[c],
			                               .len = cd->len[c],
			                               .etag = cd->etag[c],
			                               .etag_len = cd->etag_len[c]};
		}
		i++;
	}
	unsigned published = b->available;
	free(b->variants);
	b->variants = v;
	b->available = (uint8_t)((1u << CACHET_CODING_IDENTITY) | kept);
	b->pending = (uint8_t)pending;
	for (unsigned c = 1; !pending && b->sidecars && c < CACHET_CODING_COUNT; c++) {
		if ((kept | published) & (1u << c))
			continue;
		free(b->sidecars->read[c - 1]);
		b->sidecars->read[c - 1] = NULL;
	}
	return 0;
}

/* Compresses the codings in compress, then chooses and packs the variants among those and the
 * sidecars' (variants_pack). On failure b is unchanged. */
static int variants_settle(struct cachet_blob *b, unsigned compress)
{
	struct candidates cd = {0};
	int rc = 0;
	for (unsigned c = 1; b->sidecars && c < CACHET_CODING_COUNT; c++) {
		const struct sidecar_bytes *r = b->sidecars->read[c - 1];
		if (r) {
			cd.data[c] = r->data;
			cd.len[c] = r->len;
			cd.etag[c] = r->etag;
			cd.etag_len[c] = r->etag_len;
			cd.have |= 1u << c;
		}
	}
	for (unsigned c = 1; rc == 0 && c < CACHET_CODING_COUNT; c++) {
		if (!(compress & (1u << c)))
			continue;
		rc = cachet_compress(c, b->data, b->len, &cd.made[c], &cd.len[c]);
		if (rc == 0) {
			cd.data[c] = cd.made[c];
			cd.have |= 1u << c;
		}
		if (rc == -EINVAL) /* the library refused: no variant */
			rc = 0;
	}
	if (rc == 0)
		rc = variants_pack(b, &cd, b->pending & ~compress);
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++)
		free(cd.made[c]);
	return rc;
}

int cachet_blob_compress_pending(struct cachet_blob *b)
{
	return b->pending ? variants_settle(b, b->pending) : 0;
}

const struct cachet_variant *cachet_blob_variant(const struct cachet_blob *b, unsigned coding)
{
	if (coding == CACHET_CODING_IDENTITY || coding >= CACHET_CODING_COUNT ||
	    !(b->available & (1u << coding)))
		return NULL;
	/* the records are in coding order, one for each available coding but identity */
	unsigned before = b->available & ((1u << coding) - 1) & ~(1u << CACHET_CODING_IDENTITY);
	return &b->variants[__builtin_popcount(before)];
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
	static const struct cachet_file_sig none;
	struct cachet_file_sig sidecars[CACHET_CODING_COUNT];
	if (b->wanted != src->wanted)
		return false;
	sidecars_now(src, sidecars);
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++)
		if ((src->wanted & (1u << c)) &&
		    !cachet_blob_sig_equal(&sidecars[c],
		                           b->sidecars ? &b->sidecars->sig[c - 1] : &none))
			return false;
	return true;
}

bool cachet_blob_from_sidecar(const struct cachet_blob *b)
{
	return b->sidecars != NULL;
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
	char tag[CACHET_ETAG_MAX];
	atomic_init(&b->refs, 1);
	b->sig = cachet_blob_sig(src->st);
	b->len = len;
	b->hash = XXH3_64bits(b->data, len);
	b->wanted = (uint8_t)src->wanted;
	b->available = 1u << CACHET_CODING_IDENTITY;
	b->etag_len = (uint8_t)cachet_etag_from_bytes(b->data, len, tag);
	assert(b->etag_len == CACHET_BLOB_ETAG_LEN);
	memcpy(b->etag, tag, CACHET_BLOB_ETAG_LEN + 1);
	unsigned compress = 0;
	for (unsigned c = 1; c < CACHET_CODING_COUNT; c++)
		if ((src->wanted & (1u << c)) && !sidecars[c].ino)
			compress |= 1u << c;
	if (src->defer_compress) {
		b->pending = (uint8_t)compress;
		compress = 0;
	}
	rc = sidecars_load(src, b, sidecars);
	if (rc == 0 && src->wanted)
		rc = variants_settle(b, compress);
	if (rc < 0) {
		cachet_blob_unref(b);
		return rc;
	}
	*out = b;
	return 0;
}
