/* path.h - request-target -> normalized path inside ROOT (RFC 9112 §3.2, RFC 3986 §5.2.4). */
#ifndef CACHET_PATH_H
#define CACHET_PATH_H

#include <stddef.h>

/** Longest normalized path kept; a longer one is refused with 414. */
#define CACHET_PATH_MAX 4096

/**
 * Turns a request-target (origin-form "/a/b?q" or absolute-form "http://host/a/b?q") into the
 * store key: query dropped, percent-decoded once, "//" collapsed, "." and ".." segments resolved,
 * always starting with "/", a trailing "/" kept. Writes it NUL-terminated into out.
 *
 * Returns its length, or:
 *   -EINVAL       malformed: not "/" or http(s) absolute-form, a bad %XX, a decoded NUL or
 *                 control character, or a ".." that would climb above ROOT  -> 400
 *   -ENAMETOOLONG the result would not fit in outcap                          -> 414
 * A percent-decoded "/" (%2F) is treated as a separator, so no encoding can hide a "..".
 */
int cachet_path_normalize(const char *target, size_t len, char *out, size_t outcap);

#endif
