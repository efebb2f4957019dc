/* httpdate.c - HTTP-date (RFC 9110 §5.6.7) without strftime/strptime: those depend on the
 * locale and the TZ environment, and are slower than plain calendar arithmetic. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_REALTIME_COARSE under -std=c17 */
#endif
#include "cachet/httpdate.h"

#include "cachet/span.h"
#include <errno.h>
#include <string.h>
#include <time.h>

/* 9999-12-31T23:59:59Z: the last instant with a four-digit year. */
#define MAX_TIME INT64_C(253402300799)

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_names_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void cachet_httpdate_format(int64_t t, char out[CACHET_HTTPDATE_LEN])
{
	int64_t days, y;
	unsigned m, d, secs;

	/* Clamped so that the year always has exactly four digits. */
	if (t < 0)
		t = 0;
	if (t > MAX_TIME)
		t = MAX_TIME;
	days = t / 86400;
	secs = (unsigned)(t % 86400);
	civil_from_days(days, &y, &m, &d);

	memcpy(out, day_names[(days + 4) % 7], 3); /* 1970-01-01 was a Thursday */
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, month_names[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, (unsigned)(y / 100));
	put2(out + 14, (unsigned)(y % 100));
	out[16] = ' ';
	put2(out + 17, secs / 3600);
	out[19] = ':';
	put2(out + 20, secs / 60 % 60);
	out[22] = ':';
	put2(out + 23, secs % 60);
	memcpy(out + 25, " GMT", 4);
}

/* Reads n decimal digits; false if any is not a digit. */
static bool get_digits(const char *p, unsigned n, unsigned *v)
{
	unsigned i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*v = *v * 10 + (unsigned)(p[i] - '0');
	}
	return true;
}

/* Month names are case-sensitive (%s"Jan" in RFC 9110). Returns 1..12, or 0. */
static unsigned get_month(const char *p)
{
	unsigned i;

	for (i = 0; i < 12; i++)
		if (memcmp(p, month_names[i], 3) == 0)
			return i + 1;
	return 0;
}

static bool is_day_name(const char *p)
{
	unsigned i;

	for (i = 0; i < 7; i++)
		if (memcmp(p, day_names[i], 3) == 0)
			return true;
	return false;
}

/* Length of the long day name (RFC 850 form) at the start of s, or 0. */
static size_t long_day_name_len(const char *s, size_t len)
{
	unsigned i;

	for (i = 0; i < 7; i++) {
		size_t n = strlen(day_names_long[i]);

		if (len >= n && memcmp(s, day_names_long[i], n) == 0)
			return n;
	}
	return 0;
}

struct date {
	unsigned year, month, day, hour, min, sec;
};

/* "HH:MM:SS" */
static bool get_time(const char *p, struct date *dt)
{
	return get_digits(p, 2, &dt->hour) && p[2] == ':' && get_digits(p + 3, 2, &dt->min) &&
	       p[5] == ':' && get_digits(p + 6, 2, &dt->sec);
}

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool valid_date(const struct date *dt)
{
	static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (dt->month < 1 || dt->month > 12 || dt->day < 1 || dt->day > mdays[dt->month - 1])
		return false;
	if (dt->month == 2 && dt->day == 29 && !is_leap(dt->year))
		return false;
	return dt->hour <= 23 && dt->min <= 59 && dt->sec <= 60;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool parse_imf(const char *s, size_t len, struct date *dt)
{
	return len == 29 && is_day_name(s) && memcmp(s + 3, ", ", 2) == 0 &&
	       get_digits(s + 5, 2, &dt->day) && s[7] == ' ' && (dt->month = get_month(s + 8)) &&
	       s[11] == ' ' && get_digits(s + 12, 4, &dt->year) && s[16] == ' ' &&
	       get_time(s + 17, dt) && memcmp(s + 25, " GMT", 4) == 0;
}

/* Seconds since the epoch of dt (fields as parsed; valid_date is checked by the caller). */
static int64_t seconds_of(const struct date *dt)
{
	return days_from_civil(dt->year, dt->month, dt->day) * 86400 + dt->hour * 3600 +
	       dt->min * 60 + dt->sec;
}

/* RFC 9110 §5.6.7: a two-digit year is the first year from now's on with those digits, unless
 * the timestamp is then more than 50 years in the future (the whole date compared, not the year
 * alone: at 2026-11-27, 31-Dec-76 is 1976): then the most recent past year with them. */
static unsigned century_for(const struct date *dt, int64_t now)
{
	int64_t days = (now >= 0 ? now : now - 86399) / 86400, cur;
	unsigned m, d;

	civil_from_days(days, &cur, &m, &d);
	int64_t limit = days_from_civil(cur + 50, m, d) * 86400 + (now - days * 86400);
	int64_t y = cur - cur % 100 + dt->year;
	if (y < cur)
		y += 100;
	struct date at = *dt;
	at.year = (unsigned)y;
	if (seconds_of(&at) > limit)
		y -= 100;
	return y < 0 ? dt->year : (unsigned)y;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; the century comes from now (century_for). */
static bool parse_rfc850(const char *s, size_t len, int64_t now, struct date *dt)
{
	size_t n = long_day_name_len(s, len);

	if (n == 0 || len != n + 24)
		return false;
	s += n;
	if (!(memcmp(s, ", ", 2) == 0 && get_digits(s + 2, 2, &dt->day) && s[4] == '-' &&
	      (dt->month = get_month(s + 5)) && s[8] == '-' && get_digits(s + 9, 2, &dt->year) &&
	      s[11] == ' ' && get_time(s + 12, dt) && memcmp(s + 20, " GMT", 4) == 0))
		return false;
	dt->year = century_for(dt, now);
	return true;
}

/* asctime: "Sun Nov  6 08:49:37 1994"; the day is two digits or a space and one digit. */
static bool parse_asctime(const char *s, size_t len, struct date *dt)
{
	if (len != 24 || !is_day_name(s) || s[3] != ' ' || !(dt->month = get_month(s + 4)) ||
	    s[7] != ' ')
		return false;
	if (s[8] == ' ') {
		if (!get_digits(s + 9, 1, &dt->day))
			return false;
	} else if (!get_digits(s + 8, 2, &dt->day)) {
		return false;
	}
	return s[10] == ' ' && get_time(s + 11, dt) && s[19] == ' ' &&
	       get_digits(s + 20, 4, &dt->year);
}

/*
 * The day name is checked to be a valid name but not against the actual weekday: a mismatch
 * is a sender's bug that does not make the timestamp itself ambiguous.
 */
int cachet_httpdate_parse_at(const char *s, size_t len, int64_t now, int64_t *t)
{
	struct date dt = {0};
	bool ok;
	struct cachet_span v = cachet_span_trim_ows((struct cachet_span){.p = s, .len = len});

	s = v.p;
	len = v.len;
	if (len < 4)
		return -EINVAL;
	if (s[3] == ',')
		ok = parse_imf(s, len, &dt);
	else if (s[3] == ' ')
		ok = parse_asctime(s, len, &dt);
	else
		ok = parse_rfc850(s, len, now, &dt);
	if (!ok || !valid_date(&dt))
		return -EINVAL;
	if (dt.sec == 60) /* a leap second reads as the second before it */
		dt.sec = 59;
	*t = seconds_of(&dt);
	return 0;
}

int cachet_httpdate_parse(const char *s, size_t len, int64_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts); /* a vDSO read: no system call */
	return cachet_httpdate_parse_at(s, len, ts.tv_sec, t);
}

bool cachet_httpdate_cache_refresh(struct cachet_httpdate_cache *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == c->sec)
		return false;
	c->sec = ts.tv_sec;
	cachet_httpdate_format(c->sec, c->text);
	return true;
}
