/* test_headers.c - compiled once per public header by meson.build, with CACHET_HEADER naming it:
 * the header is the first thing its translation unit includes, so a header that does not stand
 * on its own (uses a type or macro it does not include) fails the build. Nothing to run. */
#include CACHET_HEADER

/* ISO C wants a translation unit to declare something, whatever the header holds. */
typedef int cachet_header_stands_alone;
