/* httpdate.h - HTTP-date (RFC 9110 §5.6.7): formatting, parsing of all three forms, per-second
 * cache. */
#ifndef CACHET_HTTPDATE_H
#define CACHET_HTTPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Length of an IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
#define CACHET_HTTPDATE_LEN 29

/** Writes the IMF-fixdate for t (seconds since the epoch, UTC) into out; no NUL is written. */
void cachet_httpdate_format(int64_t t, char out[CACHET_HTTPDATE_LEN]);

/**
 * Parses an IMF-fixdate, an RFC 850 date ("Sunday, 06-Nov-94 08:49:37 GMT") or an asctime date
 * ("Sun Nov  6 08:49:37 1994"). Surrounding OWS is allowed; anything else invalid. A two-digit
 * year is read per RFC 9110 §5.6.7: the first year from now's (seconds since the epoch) on
 * with those digits, unless the date is then more than 50 years after now, then the most
 * recent past year with them. Pure: now is given.
 * Returns 0 and sets *t, or -EINVAL.
 */
int cachet_httpdate_parse_at(const char *s, size_t len, int64_t now, int64_t *t);

/** cachet_httpdate_parse_at with now read from the wall clock. */
int cachet_httpdate_parse(const char *s, size_t len, int64_t *t);

/** A thread's Date value, reformatted at most once a second. Owned by one thread; no locking. */
struct cachet_httpdate_cache {
	int64_t sec;
	char text[CACHET_HTTPDATE_LEN];
};

/** Sets the cache to now if the second has changed (CLOCK_REALTIME_COARSE, a vDSO read, no
 *  syscall). Returns true when the text changed. Call once per event-loop turn. */
bool cachet_httpdate_cache_refresh(struct cachet_httpdate_cache *c);

#endif
