/* blob.h - a file's bytes, its ETag, and its coded variants (gzip/br/zstd), shared between
 * generations and between paths: a rescan that finds a file and its sidecars unchanged, or a file
 * whose bytes equal a blob's, reuses the blob instead of reading, hashing and compressing again. */
#ifndef CACHET_BLOB_H
#define CACHET_BLOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
/* dev_t, ino_t, off_t: under -std=c17, sys/stat.h declares them only with a feature macro. */
#include <sys/types.h>

#include "cachet/encoding.h"
#include "cachet/etag.h"

/** What identifies an unchanged file: device, inode, size, mtime. All zero: no such file. */
struct cachet_file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
};

/** One kept coded variant, as representations read it (cachet_blob_variant()). */
struct cachet_variant {
	const unsigned char *data;
	size_t len;
	const char *etag; /* "<identity hex>-<variant hex8>-<coding>": strong, per bytes */
	size_t etag_len;
};

/* The identity ETag's length: cachet_etag_from_bytes() makes tags of this length only, and
 * the blob keeps that much room rather than CACHET_ETAG_MAX (20,000 files: 0.6 MB). */
#define CACHET_BLOB_ETAG_LEN 18

/* The sidecars NAME.gz/.br/.zst of a file that has one (blob.c): out of line, as few files do. */
struct cachet_blob_sidecars;

/* Who owns what (blob.c frees it all at the last unref, nothing earlier unless said):
 * - the blob allocation: the record and the identity bytes (data), immutable once loaded;
 * - variants: one allocation, exactly sized, holding the records of the kept variants (coding
 *   order, one per bit of available other than identity's; NULL when none) followed by the
 *   ETags and bytes of the variants made by compressing. Replaced only when a deferred load's
 *   compression completes (cachet_blob_compress_pending), which frees the records it replaces:
 *   those of a blob with codings pending describe sidecar variants only, whose bytes and ETags
 *   live in sidecars, and representations copy the pointers (cachet_repr.body, .etag), never
 *   point at a record, so what a published generation sends is not freed;
 * - sidecars: what was read from each sidecar (bytes, ETag, signature), NULL for a file without
 *   one; a sidecar's bytes go when the blob goes, or at the end of compression if no generation
 *   could have been given them.
 */
struct cachet_blob {
	atomic_uint refs;
	uint8_t wanted;    /* codings asked for when built (bitmask), for reuse */
	uint8_t available; /* codings with a variant (bitmask); identity is always there */
	uint8_t pending;   /* codings still to compress (deferred loads only) */
	uint8_t etag_len;
	struct cachet_file_sig sig;
	size_t len;
	uint64_t hash; /* XXH3-64 of the bytes: the key of reuse by content */
	struct cachet_variant *variants;
	struct cachet_blob_sidecars *sidecars;
	char etag[CACHET_BLOB_ETAG_LEN + 1]; /* NUL-terminated */
	unsigned char data[];
};

/** How to load one file. */
struct cachet_blob_source {
	int dfd;             /* its directory */
	const char *name;    /* its name in dfd */
	int fd;              /* open for reading; the file is read through it, never by name */
	struct stat *st;     /* fstat of fd; updated to the state of the file that was read */
	unsigned wanted;     /* codings to offer (bitmask): 0 for types not worth compressing */
	unsigned sidecars;   /* codings whose sidecar NAME.gz/.br/.zst is listed beside it */
	bool defer_compress; /* leave compression to cachet_blob_compress_pending() */
	/* tests only (NULL otherwise): called with stage 1 before each read of the file */
	void (*hook)(void *arg, const char *name, int stage);
	void *hook_arg;
};

/**
 * Reads the file through src->fd, hashes it, and makes its variants (a sidecar, regular file and
 * not a link, wins over compressing; which are kept: cachet_compress_choose, sidecars included).
 * A deferred load keeps the sidecars' variants that rule keeps among themselves, until
 * cachet_blob_compress_pending() judges them with the rest. Returns 0 with a reference in *out,
 * or -errno.
 */
int cachet_blob_load(const struct cachet_blob_source *src, struct cachet_blob **out);

/** Whether b was made with src's wanted codings and from the sidecars beside src as they are now
 *  (the caller compares the file itself). src->fd and src->st are not used. */
bool cachet_blob_current(const struct cachet_blob *b, const struct cachet_blob_source *src);

/** b's variant for coding, or NULL when it has none (coding not in b->available). */
const struct cachet_variant *cachet_blob_variant(const struct cachet_blob *b, unsigned coding);

/** Whether any of b's variants was read from a sidecar (such a blob belongs to its path). */
bool cachet_blob_from_sidecar(const struct cachet_blob *b);

/**
 * Compresses what a deferred load left pending, then chooses the variants to keep among those
 * and the sidecars' (cachet_compress_choose: the same set a load without deferring keeps) and
 * packs them. Touches only b, so different blobs may be compressed on different threads at once;
 * no generation may be built from b meanwhile. On failure b is as it was (still pending).
 * Returns 0 or -errno.
 */
int cachet_blob_compress_pending(struct cachet_blob *b);

/** Signature of a stat result. */
struct cachet_file_sig cachet_blob_sig(const struct stat *st);

/** Whether two signatures name the same unchanged file. */
bool cachet_blob_sig_equal(const struct cachet_file_sig *a, const struct cachet_file_sig *b);

void cachet_blob_ref(struct cachet_blob *b);
void cachet_blob_unref(struct cachet_blob *b);

#endif
