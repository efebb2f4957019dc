/* h2_frame.c - HTTP/2 frame headers and payload framing (RFC 9113 §4.1, §6.1, §6.2). */
#include "cachet/h2_frame.h"

#include <errno.h>

int cachet_h2_frame_next(const uint8_t *buf, size_t len, uint32_t max_payload,
                         struct cachet_h2_frame *f)
{
	if (len < CACHET_H2_HEADER_LEN)
		return 0;
	f->len = (uint32_t)buf[0] << 16 | (uint32_t)buf[1] << 8 | buf[2];
	f->type = buf[3];
	f->flags = buf[4];
	f->stream = cachet_h2_u31(buf + 5);
	if (f->len > max_payload)
		return CACHET_H2_FRAME_TOO_BIG;
	if (len - CACHET_H2_HEADER_LEN < f->len)
		return 0;
	f->payload = buf + CACHET_H2_HEADER_LEN;
	return (int)(CACHET_H2_HEADER_LEN + f->len);
}

void cachet_h2_frame_header(uint8_t *dst, uint32_t len, uint8_t type, uint8_t flags,
                            uint32_t stream)
{
	dst[0] = (uint8_t)(len >> 16);
	dst[1] = (uint8_t)(len >> 8);
	dst[2] = (uint8_t)len;
	dst[3] = type;
	dst[4] = flags;
	cachet_h2_put32(dst + 5, stream & 0x7fffffffu);
}

int cachet_h2_frame_content(const struct cachet_h2_frame *f, struct cachet_h2_content *c)
{
	const uint8_t *p = f->payload;
	uint32_t len = f->len, pad = 0;
	*c = (struct cachet_h2_content){0};
	if (f->flags & CACHET_H2_PADDED) {
		if (len < 1)
			return -EPROTO;
		pad = p[0];
		p++;
		len--;
	}
	if (f->type == CACHET_H2_HEADERS && (f->flags & CACHET_H2_PRIORITY_FLAG)) {
		if (len < 5)
			return -EPROTO;
		c->has_priority = true;
		c->exclusive = p[0] & 0x80;
		c->dependency = cachet_h2_u31(p);
		p += 5;
		len -= 5;
	}
	if (pad > len) /* §6.1: padding at least as long as what remains */
		return -EPROTO;
	c->p = p;
	c->len = len - pad;
	return 0;
}
