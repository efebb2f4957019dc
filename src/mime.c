/* mime.c - file extension -> Content-Type, from a sorted static table searched by bisection. */
#include "cachet/mime.h"

#include <stdlib.h>
#include <string.h>

#include "cachet/chars.h"

#define OCTET_STREAM "application/octet-stream"
#define UTF8         "; charset=utf-8"

/* Longest extension in the table ("webmanifest") plus room; longer ones are unknown anyway. */
#define EXT_MAX 16

struct mime_entry {
	const char *ext; /* lowercase */
	const char *type;
};

/* Sorted by ext (strcmp order) for bsearch. Every extension of Debian nginx's mime.types
 * (tests/fixtures/nginx-mime.types, which test_mime compares against) with nginx's type, except
 * where a newer registration is used: js/mjs/cjs text/javascript (RFC 9239), xml
 * application/xml (RFC 7303), bmp image/bmp (IANA). Then the web types nginx lacks (cjs, map,
 * webmanifest, jxl, glb, gltf, ktx2, ...). Text, JSON and XML types carry the charset. */
static const struct mime_entry table[] = {
    {"3gp", "video/3gpp"},
    {"3gpp", "video/3gpp"},
    {"7z", "application/x-7z-compressed"},
    {"ai", "application/postscript"},
    {"apng", "image/apng"},
    {"asf", "video/x-ms-asf"},
    {"asx", "video/x-ms-asf"},
    {"atom", "application/atom+xml" UTF8},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"cco", "application/x-cocoa"},
    {"cjs", "text/javascript" UTF8},
    {"crt", "application/x-x509-ca-cert"},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"deb", "application/octet-stream"},
    {"der", "application/x-x509-ca-cert"},
    {"dll", "application/octet-stream"},
    {"dmg", "application/octet-stream"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"ear", "application/java-archive"},
    {"eot", "application/vnd.ms-fontobject"},
    {"eps", "application/postscript"},
    {"exe", "application/octet-stream"},
    {"flac", "audio/flac"},
    {"flv", "video/x-flv"},
    {"gif", "image/gif"},
    {"glb", "model/gltf-binary"},
    {"gltf", "model/gltf+json"},
    {"hqx", "application/mac-binhex40"},
    {"htc", "text/x-component" UTF8},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar" UTF8},
    {"img", "application/octet-stream"},
    {"iso", "application/octet-stream"},
    {"jad", "text/vnd.sun.j2me.app-descriptor" UTF8},
    {"jar", "application/java-archive"},
    {"jardiff", "application/x-java-archive-diff"},
    {"jng", "image/x-jng"},
    {"jnlp", "application/x-java-jnlp-file"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript" UTF8},
    {"json", "application/json" UTF8},
    {"jsonld", "application/ld+json" UTF8},
    {"jxl", "image/jxl"},
    {"kar", "audio/midi"},
    {"kml", "application/vnd.google-earth.kml+xml" UTF8},
    {"kmz", "application/vnd.google-earth.kmz"},
    {"ktx2", "image/ktx2"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/x-m4a"},
    {"m4v", "video/x-m4v"},
    {"map", "application/json" UTF8},
    {"md", "text/markdown" UTF8},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript" UTF8},
    {"mml", "text/mathml" UTF8},
    {"mng", "video/x-mng"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"msi", "application/octet-stream"},
    {"msm", "application/octet-stream"},
    {"msp", "application/octet-stream"},
    {"odg", "application/vnd.oasis.opendocument.graphics"},
    {"odp", "application/vnd.oasis.opendocument.presentation"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/ogg"},
    {"otf", "font/otf"},
    {"pdb", "application/x-pilot"},
    {"pdf", "application/pdf"},
    {"pem", "application/x-x509-ca-cert"},
    {"pl", "application/x-perl"},
    {"pm", "application/x-perl"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"prc", "application/x-pilot"},
    {"ps", "application/postscript"},
    {"ra", "audio/x-realaudio"},
    {"rar", "application/x-rar-compressed"},
    {"rpm", "application/x-redhat-package-manager"},
    {"rss", "application/rss+xml" UTF8},
    {"rtf", "application/rtf"},
    {"run", "application/x-makeself"},
    {"sea", "application/x-sea"},
    {"shtml", "text/html" UTF8},
    {"sit", "application/x-stuffit"},
    {"svg", "image/svg+xml" UTF8},
    {"svgz", "image/svg+xml" UTF8},
    {"swf", "application/x-shockwave-flash"},
    {"tcl", "application/x-tcl"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"tk", "application/x-tcl"},
    {"ts", "video/mp2t"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"war", "application/java-archive"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"wbmp", "image/vnd.wap.wbmp"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json" UTF8},
    {"webp", "image/webp"},
    {"wml", "text/vnd.wap.wml" UTF8},
    {"wmlc", "application/vnd.wap.wmlc"},
    {"wmv", "video/x-ms-wmv"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml" UTF8},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml" UTF8},
    {"xpi", "application/x-xpinstall"},
    {"xspf", "application/xspf+xml" UTF8},
    {"zip", "application/zip"},
};

static int cmp_entry(const void *key, const void *elem)
{
	const struct mime_entry *e = elem;

	return strcmp(key, e->ext);
}

/* The extension: after the last '.' of the last path segment. Returns its length, or 0. */
static size_t find_ext(const char *name, size_t len, const char **ext)
{
	size_t i = len;

	while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
		i--;
	if (i == 0 || name[i - 1] != '.')
		return 0;
	*ext = name + i;
	return len - i;
}

const char *cachet_mime_type(const char *name, size_t len)
{
	char key[EXT_MAX];
	const char *ext = NULL;
	const struct mime_entry *e;
	size_t n = find_ext(name, len, &ext);
	size_t i;

	if (n == 0 || n >= EXT_MAX)
		return OCTET_STREAM;
	for (i = 0; i < n; i++) {
		char c = ext[i];

		if (c == '\0') /* would cut the key short and match a shorter extension */
			return OCTET_STREAM;
		key[i] = cachet_char_lower(c);
	}
	key[n] = '\0';
	e = bsearch(key, table, sizeof(table) / sizeof(table[0]), sizeof(table[0]), cmp_entry);
	return e ? e->type : OCTET_STREAM;
}

/* Types whose bytes are not already compressed, parameters stripped. */
static const char *const compressible[] = {
    "application/json",
    "application/manifest+json",
    "application/xml",
    "application/wasm",
    "application/javascript",
    "application/xhtml+xml",
    "application/atom+xml",
    "application/rss+xml",
    "application/ld+json",
    "application/vnd.ms-fontobject",
    "model/gltf+json",
    "image/svg+xml",
    "image/x-icon",
    "image/bmp",
    "font/ttf",
    "font/otf",
};

bool cachet_mime_compressible(const char *type)
{
	size_t n = strcspn(type, ";");
	size_t i;

	if (n >= 5 && memcmp(type, "text/", 5) == 0)
		return true;
	for (i = 0; i < sizeof(compressible) / sizeof(compressible[0]); i++)
		if (strlen(compressible[i]) == n && memcmp(type, compressible[i], n) == 0)
			return true;
	return false;
}
