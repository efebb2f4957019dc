/* chars.h - character classes of RFC 9110 shared by the small parsers (chunked, encoding, path,
 * config, multipart, range, http_parse). ASCII only: no locale on the request path.
 * http_parse.c keeps its own 256-entry tables for tchar and field bytes: it runs on every
 * request. */
#ifndef CACHET_CHARS_H
#define CACHET_CHARS_H

#include <stdbool.h>
#include <string.h>

/** DIGIT. */
static inline bool cachet_char_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/** ASCII lower-casing, whatever the locale (field names, codings, schemes, range units). */
static inline char cachet_char_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/** ALPHA / DIGIT. */
static inline bool cachet_char_is_alnum(char c)
{
	return cachet_char_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/** tchar (RFC 9110 §5.6.2): a byte of a token. */
static inline bool cachet_char_is_tchar(char c)
{
	return cachet_char_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/** A byte no field value may hold (RFC 9110 §5.5): a control other than HTAB, CR and LF
 *  included. */
static inline bool cachet_char_is_field_ctl(char c)
{
	unsigned char u = (unsigned char)c;
	return (u < 0x20 && u != '\t') || u == 0x7f;
}

/** The value of a HEXDIG, either case, or -1. */
static inline int cachet_char_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
