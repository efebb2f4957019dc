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
#include "cachet/httpdate.h"

/** Offset of the 29-byte Date value inside every preformatted block: "HTTP/1.1 NNN ...\r\nDate: ".
 *  Each block records its own offset; the status lines differ in length. */
#define CACHET_BLOCK_DATE_NAME "Date: "

/** Longest preformatted block, and longest head of a file's 200 (without the tail the sender adds);
 *  a file or block whose head would be longer fails the build (-E2BIG). */
#define CACHET_BLOCK_MAX 4096

/** One allocation holding the texts of an entry's blocks (or of a generation's error blocks),
 *  reference-counted so that an unchanged entry's blocks serve every generation it is part of. */
struct cachet_heads;

/** A generation's arena: its representations and interned lines, freed with it (store.c). */
struct cachet_store_arena;

/** A whole header block formatted once at load: the errors, a redirect, the lines every 416 starts
 *  with (files' answers are copied together from parts: cachet_repr). It ends after the last
 *  header line's CRLF: the sender appends the blank line (or a Connection line and the blank
 *  line). */
struct cachet_block {
	char *text;
	uint32_t len;
	uint32_t date_off;            /* where the 29 bytes of the Date value start */
	bool closes;                  /* the block itself says "Connection: close" */
	struct cachet_hpack_block h2; /* the same block for HTTP/2 (hpack.h), made with it */
};

/** Header lines formatted once per generation with their HPACK twin (hpack.h), and interned:
 *  every entry whose lines read the same shares one copy (the generation's arena holds them). */
struct cachet_lines {
	const char *text;
	const unsigned char *h2;
	uint16_t len, h2_len;
};

/** Longest Content-Length value: 20 digits. */
#define CACHET_LENGTH_DIGITS_MAX 20

/** One representation of a resource (identity or a coded variant): its body, its ETag and the
 *  digits of its Content-Length. Its answers are not stored whole: the 200, 206 and 304 heads are
 *  copied together per answer from these and from the entry's shared lines (response.c), which
 *  costs a few memcpys instead of ~0.8 KB of text and HPACK per answer and representation that
 *  20,000-file bundles paid (issue 15). */
struct cachet_repr {
	const unsigned char *body; /* in the blob */
	size_t body_len;
	const char *etag; /* in the blob */
	uint8_t etag_len; /* at most CACHET_ETAG_MAX */
	uint8_t coding;   /* enum cachet_coding */
	uint8_t length_len;
	char length[CACHET_LENGTH_DIGITS_MAX]; /* body_len in decimal, not NUL-terminated */
};

enum cachet_entry_kind {
	CACHET_ENTRY_FILE,
	CACHET_ENTRY_REDIRECT, /* "/dir" -> 301 to "/dir/" (the directory has an index.html) */
	CACHET_ENTRY_ALIAS,    /* "/dir/" -> the entry of "/dir/index.html"; resolved by lookup */
};

struct cachet_entry {
	char *path; /* the lookup key: normalized, starts with "/"; in the generation's arena */
	uint32_t path_len;
	uint64_t hash;
	int64_t last_modified; /* seconds; clamped to the build time */
	const char *content_type;
	struct cachet_blob *blob; /* NULL for a redirect */
	const char *cache_control;
	/* one per coding in available, in coding order (identity first): cachet_entry_repr();
	 * in the generation's arena */
	struct cachet_repr *repr;
	/* files: the lines their 200, 206 and 304 heads are copied from (response.c, in the order
	 * written there), interned in the generation's arena */
	const struct cachet_lines *type_lines;  /* Content-Type (200, 206) */
	const struct cachet_lines *cache_lines; /* Cache-Control, and Vary when it has variants */
	const struct cachet_lines *extra_lines; /* --add-header lines (may be empty) */
	const struct cachet_lines *link_lines;  /* the Link field of link, or NULL */
	char last_modified_text[CACHET_HTTPDATE_LEN]; /* last_modified as an HTTP-date */
	/* the three bytes after it (an entry is 168 bytes; 20,000 of them) */
	uint8_t kind;      /* enum cachet_entry_kind */
	uint8_t available; /* representations present (bitmask of 1 << enum cachet_coding) */
	uint8_t pending;   /* variants still being compressed when the lines were made: they say
	                      Vary already, a later generation adds the variants */
	union {            /* by kind */
		struct cachet_file_sig sig; /* CACHET_ENTRY_FILE: the file read for this path */
		struct {                    /* CACHET_ENTRY_REDIRECT */
			const struct cachet_block *redirect; /* in the generation's arena */
			struct cachet_heads *heads; /* its text, shared between generations */
		};
		size_t alias_target; /* CACHET_ENTRY_ALIAS: index into entries */
	};
	char *
	    link; /* --link-preload: "Link: ...\r\n" for the 200 blocks, or NULL (link_preload.h) */
};

/** The representation of file e in coding, one of e->available's. */
static inline const struct cachet_repr *cachet_entry_repr(const struct cachet_entry *e,
                                                          unsigned coding)
{
	return &e->repr[__builtin_popcount(e->available & ((1u << coding) - 1u))];
}

/** A status cachet answers without a file: a block plus a short text body. */
struct cachet_error {
	int status;
	struct cachet_block block;
	const char *body;
	size_t body_len;
};

/** The statuses with a preformatted error response, in the order of cachet_store.errors. */
#define CACHET_ERROR_STATUSES 400, 404, 405, 408, 412, 414, 417, 431, 500, 501, 503, 505
#define CACHET_N_ERRORS       12

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
	struct cachet_heads *error_heads; /* the texts of errors[] and of unsatisfiable */
	struct cachet_store_arena *arena; /* representations and interned lines (store.c) */
	const char *extra_headers;        /* the build's options' (cachet_store_derive uses them) */
	/* the lines every 416 starts with (status, Date, Server); Content-Range, Content-Length and
	 * Vary are added per answer (response.c) */
	struct cachet_block unsatisfiable;
	size_t reread;    /* files opened and read by the build (the others were unchanged) */
	size_t identical; /* of those, rewritten with the bytes they had: blob and blocks reused */
	size_t pending;   /* files whose variants are still to compress (cachet_store_compress) */
	/* --fallback: the entry a missing extension-less GET/HEAD is answered with; NULL: none */
	const struct cachet_entry *fallback;
	/* --error-page 404=: the entry whose bytes the 404 answers with; NULL: none */
	const struct cachet_entry *error_page;
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
	/* serve first, compress after: variants still to make are left pending (the blocks of their
	 * files say Vary already) for cachet_store_compress() and cachet_store_derive() */
	bool defer_variants;
	/* tests only (NULL otherwise): called with a file's name in its directory before it is
	 * opened (stage 0) and before each read of it (stage 1), to change the file in between */
	void (*race_hook)(void *arg, const char *name, int stage);
	void *race_hook_arg;
	/* issue 12: store keys of the --fallback file and the --error-page 404 file (NULL: none;
	 * a build fails when one is missing), and whether HTML files get a preload Link field */
	const char *fallback;
	const char *error_page;
	bool link_preload;
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

/**
 * Compresses the variants st's files still lack (a build with defer_variants), on up to threads
 * threads (this one included); stops early with -ECANCELED once *cancel (may be NULL) is set.
 * Touches only the blobs' variant fields, which no generation's entries point to yet: call it on
 * the thread that builds generations, never two at once. Returns how many blobs it compressed,
 * or -errno.
 */
int cachet_store_compress(const struct cachet_store *st, unsigned threads,
                          const atomic_bool *cancel);

/**
 * Builds a new generation (one reference held by the caller) with st's files and the variants
 * compressed since st was built: entries that gained variants get new blocks (same identity
 * ETag; Vary kept where variants exist, dropped where none was worth keeping), the others share
 * st's. Returns 0 or -errno.
 */
int cachet_store_derive(const struct cachet_store *st, uint64_t generation,
                        struct cachet_store **out);

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

/** Returns the memory freed so far to the system now, not over the allocator's decay: every
 *  generation has its own entries and arena (~6 MB at 20,000 files), and 25 no-change reloads in
 *  a row left RSS 1.16x higher 2 s later without it (1.01x after 14 s). Costs a few ms: for the
 *  reload thread, after a generation is retired, never for a worker. No-op without jemalloc. */
void cachet_store_trim(void);

#endif
