// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the qcow2 header and table parser and the data path on
 * it. The input is a whole image file (in a memfd) after one flags byte:
 * bit 0 opens it read-write. The image is opened (most inputs are refused
 * with a message), then read at a few offsets, and when writable written,
 * zeroed and discarded and read again. ASan/UBSan see any access outside
 * the buffers; writes land only in the memfd.
 *
 * tests/fuzz/corpus/qcow2/ holds small images made by qemu-img.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "util/log.h"

/* Quiet: a hostile image warns on most inputs. */
int log_verbose;
void log_error(const char *fmt, ...)
{
}
void log_warn(const char *fmt, ...)
{
}
void log_info(const char *fmt, ...)
{
}
void log_debug(const char *fmt, ...)
{
}

#define IO_LEN 8192

static void read_at(struct qcow2 *q, uint64_t off, uint8_t *buf)
{
	struct iovec v[2] = { { buf, 1000 }, { buf + 1000, IO_LEN - 1000 } };

	if (q->h.size < IO_LEN)
		return;
	if (off > q->h.size - IO_LEN)
		off = q->h.size - IO_LEN;
	qcow2_readv(q, off & ~511ull, v, 2);
}

static void write_at(struct qcow2 *q, uint64_t off, uint8_t *buf)
{
	struct iovec v = { buf, IO_LEN };

	if (q->h.size < IO_LEN)
		return;
	if (off > q->h.size - IO_LEN)
		off = q->h.size - IO_LEN;
	memset(buf, 0x6b, IO_LEN);
	qcow2_writev(q, off & ~511ull, &v, 1, false);
	qcow2_writev(q, off & ~511ull, &v, 1, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[IO_LEN];
	struct qcow2 *q = NULL;
	bool rw;
	int fd;

	if (size < 2 || size > (4u << 20))
		return 0;
	rw = data[0] & 1;
	fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(fd);
		return 0;
	}
	if (!qcow2_open(fd, "fuzz.qcow2", !rw, 0, NULL, &q, NULL)) {
		uint64_t s = q->h.size;

		read_at(q, 0, buf);
		read_at(q, s / 2, buf);
		read_at(q, s, buf);
		if (rw) {
			write_at(q, 0, buf);
			write_at(q, s / 3 + 4096, buf);
			if (s > 1 << 20) {
				qcow2_zero(q, 65536, 1 << 20 < s - 65536 ? 1 << 19 : 0,
					   true);
				qcow2_discard(q, 0, 1 << 20);
			}
			read_at(q, 0, buf);
			read_at(q, s / 3, buf);
		}
		qcow2_close(q);
	}
	close(fd);
	return 0;
}
