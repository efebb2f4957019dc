/* test_text.h - small text helpers shared by the unit tests. */
#ifndef CACHET_TEST_TEXT_H
#define CACHET_TEST_TEXT_H

#include <stddef.h>
#include <string.h>

/* How many times needle occurs in hay[0..len) (overlapping occurrences counted). */
static inline size_t text_count(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	for (size_t i = 0; i + nl <= len; i++)
		if (memcmp(hay + i, needle, nl) == 0)
			n++;
	return n;
}

#endif
