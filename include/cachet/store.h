/* store.h - one immutable generation of content: entries, preformatted header blocks, the index.
 *
 * A generation is built completely off to the side (cachet_store_build) and then only read. Readers
 * never lock. Lifetime is a reference count: the publisher holds one, each worker holds one on the
 * generation it serves from, and every in-flight send that points into a generation's memory is
 * covered by its worker's reference (see worker.c, "generation pins"). */
#ifndef CACHET_STORE_H
#define CACHET_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cachet/blob.h"
#include "cachet/cache_policy.h"
#include "cachet/encoding.h"
#include "cachet/etag.h"
#include "cachet/hpack.h"

/** Offset of the 29-byte Date value inside every preformatted block: "HTTP/1.1 NNN ...\r\nDate: ".
 *  Each block records its own offset; the status lines differ in length. */
#define CACHET_BLOCK_DATE_NAME "Date: "

/** Longest preformatted block; a block that would be longer fails the build (-E2BIG). */
#define CACHET_BLOCK_MAX 4096

/** A header block formatted once at load. It ends after the last header line's CRLF: the sender
 *  appends the blank line (or a Connection line and the blank line). */
struct cachet_block {
	char *text;
	uint32_t len;
	uint32_t date_off;            /* where the 29 bytes of the Date value start */
	bool closes;                  /* the block itself says "Connection: close" */
	struct cachet_hpack_block h2; /* the same block for HTTP/2 (hpack.h), made with it */
};

/** One representation of a resource (identity or a coded variant): its body and the blocks that
 *  announce it. All of a resource's blocks carry the same Cache-Control, and Vary when the
 *  resource has variants. */
struct cachet_repr {
	const unsigned char *body; /* in the blob */
	size_t body_len;
	const char *etag; /* in the blob */
	size_t etag_len;
	struct cachet_block ok;      /* 200 */
	struct cachet_block partial; /* 206 without Content-Range/Content-Length (per request) */
	struct cachet_block not_modified;  /* 304 */
	struct cachet_block unsatisfiable; /* 416 with Content-Range: bytes *\/N */
};

enum cachet_entry_kind {
	CACHET_ENTRY_FILE,
	CACHET_ENTRY_REDIRECT, /* "/dir" -> 301 to "/dir/" (the directory has an index.html) */
	CACHET_ENTRY_ALIAS,    /* "/dir/" -> the entry of "/dir/index.html"; resolved by lookup */
};

struct cachet_entry {
	char *path; /* the lookup key: normalized, starts with "/" */
	uint32_t path_len;
	enum cachet_entry_kind kind;
	uint64_t hash;
	int64_t last_modified; /* seconds; clamped to the build time */
	const char *content_type;
	struct cachet_blob *blob; /* NULL for a redirect */
	const char *cache_control;
	const char *extra_headers; /* the build's --add-header lines, "" for none */
	unsigned available; /* representations present (bitmask of 1 << enum cachet_coding) */
	struct cachet_repr repr[CACHET_CODING_COUNT];
	struct cachet_block redirect; /* CACHET_ENTRY_REDIRECT only */
	size_t alias_target;          /* CACHET_ENTRY_ALIAS only: index into entries */
};

/** A status cachet answers without a file: a block plus a short text body. */
struct cachet_error {
	int status;
	struct cachet_block block;
	const char *body;
	size_t body_len;
};

/** The statuses with a preformatted error response, in the order of cachet_store.errors. */
#define CACHET_ERROR_STATUSES 400, 404, 405, 408, 412, 414, 431, 500, 501, 503, 505
#define CACHET_N_ERRORS       11

struct cachet_store {
	atomic_uint refs;
	uint64_t generation;
	struct cachet_entry *entries;
	size_t n_entries;
	uint32_t *index; /* entry number + 1; 0 is an empty slot */
	size_t index_mask;
	size_t files; /* regular files loaded (aliases and redirects not counted) */
	size_t bytes; /* their total size */
	struct cachet_error errors[CACHET_N_ERRORS];
	enum cachet_coding prefs[CACHET_CODING_COUNT]; /* negotiation preference, best first */
	unsigned n_prefs;
};

/** Limits for a build. */
struct cachet_store_options {
	uint64_t generation;
	size_t max_bytes; /* total content bytes; 0 = no limit */
	size_t max_files; /* 0 = no limit */
	/* codings to offer, in order of preference (identity implied last); none: identity only */
	const enum cachet_coding *codings;
	unsigned n_codings;
	const struct cachet_cache_policy *cache; /* NULL: the defaults */
	/* --add-header lines ("Name: value\r\n" each) for the 200, 206, 304 and 301 blocks, as
	 * nginx's add_header; NULL: none */
	const char *extra_headers;
	/* threads compressing variants (at most CACHET_COMPRESS_THREADS_MAX); 0 or 1: this one */
	unsigned compress_threads;
};

#define CACHET_COMPRESS_THREADS_MAX 64

/**
 * Scans root recursively and builds a new generation with one reference held by the caller.
 * Dotfiles and dot-directories are skipped; symlinks are followed only when their resolved target
 * lies inside root. prev (may be NULL) lends bytes of unchanged files.
 * Returns 0, or -errno with a one-line reason in err.
 */
int cachet_store_build(const char *root, const struct cachet_store *prev,
                       const struct cachet_store_options *opt, struct cachet_store **out, char *err,
                       size_t errlen);

/** Finds the entry for a normalized path, or NULL. Lock-free; safe from any thread holding a ref.
 */
const struct cachet_entry *cachet_store_lookup(const struct cachet_store *st, const char *path,
                                               size_t len);

/** The preformatted response for an error status (one of CACHET_ERROR_STATUSES; anything else
 *  gives the 500). */
const struct cachet_error *cachet_store_error(const struct cachet_store *st, int status);

/** Takes a reference. Only valid on a store the caller already holds a reference to. */
void cachet_store_ref(struct cachet_store *st);

/** Drops a reference; the last one frees the generation (and blobs no longer shared). */
void cachet_store_unref(struct cachet_store *st);

#endif
