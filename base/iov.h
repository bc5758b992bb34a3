/* SPDX-License-Identifier: MIT */
#ifndef BASE_IOV_H
#define BASE_IOV_H

/* Bounded copies between iovecs and flat buffers: never past either end. */
#include <stddef.h>
#include <sys/uio.h>

/* Copy up to len bytes starting `off` bytes into the iovec array; return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t off, void *dst, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, size_t off, const void *src,
		    size_t len);
/* Total length; saturates at SIZE_MAX. */
size_t iov_size(const struct iovec *iov, unsigned int cnt);

#endif
