// SPDX-License-Identifier: GPL-2.0-only
/*
 * Raw images: the disk is the file (or block device), byte for byte.
 * Everything goes straight to the I/O engine on the image's descriptor.
 */
#include <errno.h>
#include <stdlib.h>

#include "block/aio.h"
#include "block/block.h"
#include "util/log.h"

struct raw_state {
	uint64_t size;
};

static int raw_open(struct block_dev *b, const struct block_spec *spec,
		    struct kb_err *err)
{
	struct raw_state *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return kb_err_set(err, -ENOMEM, "out of memory");
	ret = block_open_file(b, spec, &s->size, err);
	if (ret)
		goto fail;
	ret = aio_create(&b->aio, b->loop, spec->aio, b->direct ? b->dio_mem_align : 0,
			 b->dio_len_align, err);
	if (ret) {
		kb_err_prefix(err, "%s", b->file);
		goto fail;
	}
	b->priv = s;
	log_debug("%s: raw, %llu bytes, %s%s, %s I/O", b->file,
		  (unsigned long long)s->size, b->ro ? "read-only" : "read-write",
		  b->direct ? ", direct" : "", aio_engine_name(b->aio));
	return 0;
fail:
	free(s);
	return ret;
}

static int raw_submit(struct block_dev *b, struct block_req *r)
{
	return aio_submit(b->aio, b->fd, r->offset, r);
}

static uint64_t raw_size(struct block_dev *b)
{
	const struct raw_state *s = b->priv;

	return s->size;
}

static void raw_drain(struct block_dev *b)
{
	aio_drain(b->aio);
}

static void raw_close(struct block_dev *b)
{
	aio_destroy(b->aio);
	b->aio = NULL;
	free(b->priv);
	b->priv = NULL;
}

const struct block_ops block_raw_ops = {
	.format = "raw",
	.open = raw_open,
	.readv = raw_submit,
	.writev = raw_submit,
	.flush = raw_submit,
	.discard = raw_submit,
	.write_zeroes = raw_submit,
	.size = raw_size,
	.drain = raw_drain,
	.close = raw_close,
};
