// SPDX-License-Identifier: MIT
/*
 * KVM's binary statistics (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst §4.133): a header,
 * descriptors with names, and a data block of u64 values. Everything read from the fd is
 * checked against the sizes the header gives before use.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vm.h"

#define KSTATS_MAX_DESC		1024
#define KSTATS_MAX_NAME		256

int kstats_read(int fd, void (*fn)(void *ctx, const char *name, uint64_t value), void *ctx)
{
	struct kvm_stats_header h;
	size_t dsz;
	uint8_t *descs = NULL;
	int sfd, r = 0;

	sfd = kvm_ioctl_val(fd, KVM_GET_STATS_FD, 0);
	if (sfd < 0)
		return sfd;
	if (pread(sfd, &h, sizeof(h), 0) != sizeof(h)) {
		r = -EIO;
		goto out;
	}
	if (h.num_desc > KSTATS_MAX_DESC || h.name_size == 0 || h.name_size > KSTATS_MAX_NAME) {
		r = -EINVAL;
		goto out;
	}
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (!descs) {
		r = -ENOMEM;
		goto out;
	}
	if (pread(sfd, descs, dsz * h.num_desc, h.desc_offset) != (ssize_t)(dsz * h.num_desc)) {
		r = -EIO;
		goto out;
	}
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(descs + i * dsz);
		uint64_t v;

		/* Only plain counters and values: histograms would need their buckets. */
		if ((d->flags & KVM_STATS_TYPE_MASK) > KVM_STATS_TYPE_PEAK || d->size != 1)
			continue;
		d->name[h.name_size - 1] = 0;
		if (pread(sfd, &v, sizeof(v), (off_t)h.data_offset + d->offset) != sizeof(v))
			continue;
		fn(ctx, d->name, v);
	}
out:
	free(descs);
	close(sfd);
	return r;
}
