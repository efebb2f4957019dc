/* mime.h - file extension -> Content-Type. */
#ifndef CACHET_MIME_H
#define CACHET_MIME_H

#include <stdbool.h>
#include <stddef.h>

/**
 * Content-Type for the file name name[0..len) from its extension (case-insensitive), with
 * "; charset=utf-8" for text types; "application/octet-stream" when unknown. Static storage.
 */
const char *cachet_mime_type(const char *name, size_t len);

/** Whether a Content-Type (as returned above) is worth compressing: text, JS, JSON, maps, SVG,
 *  XML, wasm. Images, fonts other than ttf/otf, audio and video are already compressed. */
bool cachet_mime_compressible(const char *type);

#endif
