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

/** One coded variant: made at load, or read from NAME.gz / NAME.br / NAME.zst beside the file. */
struct cachet_variant {
	unsigned char *data; /* NULL: no variant for this coding */
	size_t len;
	char
	    etag[CACHET_ETAG_MAX]; /* "<identity hex>-<variant hex8>-<coding>": strong, per bytes */
	size_t etag_len;
	struct cachet_file_sig sidecar; /* the sidecar it was read from, or all zero */
};

struct cachet_blob {
	atomic_uint refs;
	struct cachet_file_sig sig;
	unsigned wanted;    /* codings asked for when built (bitmask), for reuse */
	unsigned available; /* codings with a variant (bitmask); identity is always there */
	unsigned pending;   /* codings still to compress (deferred loads only) */
	size_t len;
	uint64_t hash; /* XXH3-64 of the bytes: the key of reuse by content */
	char etag[CACHET_ETAG_MAX];
	size_t etag_len;
	/* [CACHET_CODING_COUNT - 1], coding c at [c - 1] (identity has none: 312 bytes, a 320-byte
	 * allocation where 4 took 448), allocated only when codings are wanted (NULL for images and
	 * the like) */
	struct cachet_variant *variants;
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
 * not a link, wins over compressing; a variant is kept only when meaningfully smaller:
 * cachet_compress_worth_it). Returns 0 with a reference in *out, or -errno.
 */
int cachet_blob_load(const struct cachet_blob_source *src, struct cachet_blob **out);

/** Whether b was made with src's wanted codings and from the sidecars beside src as they are now
 *  (the caller compares the file itself). src->fd and src->st are not used. */
bool cachet_blob_current(const struct cachet_blob *b, const struct cachet_blob_source *src);

/** Whether any of b's variants was read from a sidecar (such a blob belongs to its path). */
bool cachet_blob_from_sidecar(const struct cachet_blob *b);

/** Compresses what a deferred load left pending. Touches only b, so different blobs may be
 *  compressed on different threads at once. Returns 0 or -errno. */
int cachet_blob_compress_pending(struct cachet_blob *b);

/** Signature of a stat result. */
struct cachet_file_sig cachet_blob_sig(const struct stat *st);

/** Whether two signatures name the same unchanged file. */
bool cachet_blob_sig_equal(const struct cachet_file_sig *a, const struct cachet_file_sig *b);

void cachet_blob_ref(struct cachet_blob *b);
void cachet_blob_unref(struct cachet_blob *b);

#endif
