// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/iov.h"

static size_t iov_copy(const struct iovec *iov, unsigned int cnt, size_t off, uint8_t *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - off;
		if (n > len - done)
			n = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, buf + done, n);
		else
			memcpy(buf + done, (const uint8_t *)iov[i].iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t off, void *dst, size_t len)
{
	return iov_copy(iov, cnt, off, dst, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, size_t off, const void *src,
		    size_t len)
{
	return iov_copy(iov, cnt, off, (uint8_t *)src, len, true);
}

size_t iov_size(const struct iovec *iov, unsigned int cnt)
{
	size_t t = 0;

	for (unsigned int i = 0; i < cnt; i++)
		if (__builtin_add_overflow(t, iov[i].iov_len, &t))
			return SIZE_MAX;
	return t;
}
