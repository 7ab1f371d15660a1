// SPDX-License-Identifier: GPL-2.0-only
/*
 * Block backends: the drive spec, opening and locking images, and the
 * format-independent checks in front of the drivers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "block/aio.h"
#include "block/block.h"
#include "util/log.h"

#define SPEC_HELP \
	"FILE[,ro][,direct][,serial=ID][,format=raw|qcow2][,aio=io_uring|threads]"
#define SECTOR 512

enum {
	SEEN_RO = 1 << 0,
	SEEN_DIRECT = 1 << 1,
	SEEN_SERIAL = 1 << 2,
	SEEN_FORMAT = 1 << 3,
	SEEN_AIO = 1 << 4,
};

/*
 * Copies the field at *p up to the next lone ',' into @buf (",," stands
 * for one comma) and moves *p past that ','. *more tells whether one
 * followed. Returns the length or -ENAMETOOLONG.
 */
static int next_field(const char **p, char *buf, size_t size, bool *more)
{
	const char *s = *p;
	size_t n = 0;

	*more = false;
	for (;;) {
		if (!*s)
			break;
		if (*s == ',') {
			if (s[1] != ',') {
				*more = true;
				s++;
				break;
			}
			s++; /* ",," */
		}
		if (n + 1 >= size)
			return -ENAMETOOLONG;
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	*p = s;
	return (int)n;
}

static int parse_flag(const char *file, const char *key, const char *val, bool *out,
		      struct kb_err *err)
{
	static const char *const on[] = { "on", "yes", "true", "1" };
	static const char *const off[] = { "off", "no", "false", "0" };

	if (!val) {
		*out = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (!strcmp(val, on[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(val, off[i])) {
			*out = false;
			return 0;
		}
	}
	return kb_err_set(err, -EINVAL,
			  "drive '%s': bad value '%s' for '%s' (expected on or off)",
			  file, val, key);
}

static int parse_serial(const char *file, const char *val, struct block_spec *out,
			struct kb_err *err)
{
	size_t len = strlen(val);

	if (len > BLOCK_SERIAL_MAX)
		return kb_err_set(
			err, -EINVAL,
			"drive '%s': serial '%s' is %zu bytes, at most %d (the virtio-blk ID size)",
			file, val, len, BLOCK_SERIAL_MAX);
	for (size_t i = 0; i < len; i++) {
		if (val[i] < 0x20 || val[i] > 0x7e)
			return kb_err_set(
				err, -EINVAL,
				"drive '%s': bad value '%s' for 'serial' (printable ASCII only)",
				file, val);
	}
	memcpy(out->serial, val, len + 1);
	return 0;
}

static int parse_option(char *field, struct block_spec *out, unsigned int *seen,
			struct kb_err *err)
{
	const char *file = out->file;
	char *val = strchr(field, '=');
	const char *key = field;
	unsigned int bit;

	if (!*field)
		return kb_err_set(err, -EINVAL, "drive '%s': empty option (stray ',')",
				  file);
	if (val)
		*val++ = '\0';
	if (!strcmp(key, "ro"))
		bit = SEEN_RO;
	else if (!strcmp(key, "direct"))
		bit = SEEN_DIRECT;
	else if (!strcmp(key, "serial"))
		bit = SEEN_SERIAL;
	else if (!strcmp(key, "format"))
		bit = SEEN_FORMAT;
	else if (!strcmp(key, "aio"))
		bit = SEEN_AIO;
	else
		return kb_err_set(err, -EINVAL,
				  "drive '%s': unknown option '%s' (expected " SPEC_HELP
				  ")",
				  file, key);
	if (*seen & bit)
		return kb_err_set(err, -EINVAL, "drive '%s': option '%s' given twice",
				  file, key);
	*seen |= bit;

	if (bit == SEEN_RO)
		return parse_flag(file, key, val, &out->ro, err);
	if (bit == SEEN_DIRECT)
		return parse_flag(file, key, val, &out->direct, err);
	if (!val || !*val)
		return kb_err_set(err, -EINVAL, "drive '%s': option '%s' needs a value",
				  file, key);
	if (bit == SEEN_SERIAL)
		return parse_serial(file, val, out, err);
	if (bit == SEEN_FORMAT) {
		if (!strcmp(val, "raw")) {
			out->format = BLOCK_FORMAT_RAW;
			return 0;
		}
		if (!strcmp(val, "qcow2")) {
			out->format = BLOCK_FORMAT_QCOW2;
			return 0;
		}
		return kb_err_set(
			err, -EINVAL,
			"drive '%s': unknown format '%s' (expected raw or qcow2)", file,
			val);
	}
	if (!strcmp(val, "io_uring"))
		out->aio = BLOCK_AIO_IO_URING;
	else if (!strcmp(val, "threads"))
		out->aio = BLOCK_AIO_THREADS;
	else
		return kb_err_set(
			err, -EINVAL,
			"drive '%s': bad value '%s' for 'aio' (expected io_uring or threads)",
			file, val);
	return 0;
}

int block_parse_spec(const char *spec, struct block_spec *out, struct kb_err *err)
{
	char field[PATH_MAX + 64];
	unsigned int seen = 0;
	const char *p = spec ? spec : "";
	bool more;
	int n;

	memset(out, 0, sizeof(*out));
	out->format = BLOCK_FORMAT_AUTO;
	out->aio = BLOCK_AIO_AUTO;

	n = next_field(&p, out->file, sizeof(out->file), &more);
	if (n == -ENAMETOOLONG)
		return kb_err_set(err, -ENAMETOOLONG,
				  "drive: file name longer than %d bytes", PATH_MAX - 1);
	if (n == 0)
		return kb_err_set(err, -EINVAL,
				  "drive '%s': empty file name (expected " SPEC_HELP ")",
				  spec ? spec : "");
	while (more) {
		int ret;

		if (next_field(&p, field, sizeof(field), &more) < 0)
			return kb_err_set(err, -EINVAL, "drive '%s': option too long",
					  out->file);
		ret = parse_option(field, out, &seen, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* Direct I/O alignment: statx when the kernel reports it, else the
 * logical block size for both. */
static void dio_alignment(struct block_dev *b)
{
	b->dio_mem_align = b->logical_block_size;
	b->dio_len_align = b->logical_block_size;
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (!statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		b->dio_mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : 1;
		b->dio_len_align = stx.stx_dio_offset_align;
		if (b->logical_block_size < stx.stx_dio_offset_align)
			b->logical_block_size = stx.stx_dio_offset_align;
	}
#endif
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int file_size(struct block_dev *b, uint64_t *size, struct kb_err *err)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0)
		return kb_err_set(err, -errno, "%s: %s", b->file, strerror(errno));
	b->logical_block_size = SECTOR;
	b->physical_block_size = SECTOR;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		if (pow2((uint64_t)st.st_blksize) && st.st_blksize >= SECTOR &&
		    st.st_blksize <= 4096)
			b->physical_block_size = (uint32_t)st.st_blksize;
	} else if (S_ISBLK(st.st_mode)) {
		int lbs = 0;
		unsigned int pbs = 0;

		if (ioctl(b->fd, BLKGETSIZE64, size) < 0)
			return kb_err_set(err, -errno, "%s: BLKGETSIZE64: %s", b->file,
					  strerror(errno));
		if (!ioctl(b->fd, BLKSSZGET, &lbs) && pow2((uint64_t)lbs) &&
		    lbs >= SECTOR)
			b->logical_block_size = (uint32_t)lbs;
		if (!ioctl(b->fd, BLKPBSZGET, &pbs) && pow2(pbs))
			b->physical_block_size = pbs;
	} else {
		return kb_err_set(err, -EINVAL,
				  "%s: not a regular file or a block device", b->file);
	}
	if (b->direct)
		dio_alignment(b);
	if (b->physical_block_size < b->logical_block_size)
		b->physical_block_size = b->logical_block_size;
	return 0;
}

/*
 * An OFD lock on the whole file: a write lock for read-write use, a read
 * lock for ro, so that no two kvmbox processes write one image (and no
 * read-only user reads it while another writes). Released when the file
 * description is closed.
 */
static int lock_image(struct block_dev *b, struct kb_err *err)
{
	struct flock fl = {
		.l_type = b->ro ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};

	if (!fcntl(b->fd, F_OFD_SETLK, &fl))
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return kb_err_set(
			err, -EBUSY,
			"%s: in use by another process (it holds a %s lock on the image)",
			b->file, b->ro ? "write" : "conflicting");
	if (errno == EINVAL || errno == ENOLCK || errno == EOPNOTSUPP) {
		log_warn(
			"%s: cannot lock the image (%s): make sure no other process writes it",
			b->file, strerror(errno));
		return 0;
	}
	return kb_err_set(err, -errno, "%s: locking: %s", b->file, strerror(errno));
}

int block_open_file(struct block_dev *b, const struct block_spec *spec, uint64_t *size,
		    struct kb_err *err)
{
	int flags = (spec->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int ret, e;

	snprintf(b->file, sizeof(b->file), "%s", spec->file);
	b->ro = spec->ro;
	b->direct = spec->direct;
	if (spec->direct)
		flags |= O_DIRECT;
	b->fd = open(b->file, flags);
	if (b->fd < 0) {
		e = errno;
		if (spec->direct && e == EINVAL) {
			int fd = open(b->file, flags & ~O_DIRECT);

			if (fd >= 0) {
				close(fd);
				return kb_err_set(
					err, -EINVAL,
					"%s: the filesystem refuses O_DIRECT (option 'direct'): drop ',direct'",
					b->file);
			}
		}
		if (!spec->ro && (e == EROFS || e == EACCES))
			return kb_err_set(err, -e,
					  "%s: %s (add ',ro' to use it read-only)",
					  b->file, strerror(e));
		return kb_err_set(err, -e, "%s: %s", b->file, strerror(e));
	}
	ret = file_size(b, size, err);
	if (!ret)
		ret = lock_image(b, err);
	if (ret) {
		close(b->fd);
		b->fd = -1;
	}
	return ret;
}

/* The format by content: a qcow2 image starts with "QFI\xfb". A file that
 * cannot be read here is left to the raw driver (and its messages). */
static bool is_qcow2(const char *file)
{
	unsigned char m[4];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	bool ret;

	if (fd < 0)
		return false;
	ret = pread(fd, m, sizeof(m), 0) == sizeof(m) && m[0] == 'Q' && m[1] == 'F' &&
	      m[2] == 'I' && m[3] == 0xfb;
	close(fd);
	return ret;
}

int block_open(const struct block_spec *spec, struct event_loop *loop,
	       struct block_dev **out, struct kb_err *err)
{
	struct block_dev *b;
	int ret;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return kb_err_set(err, -ENOMEM, "out of memory");
	b->fd = -1;
	b->loop = loop;
	b->ops = &block_raw_ops;
	if (spec->format == BLOCK_FORMAT_QCOW2 ||
	    (spec->format == BLOCK_FORMAT_AUTO && is_qcow2(spec->file)))
		b->ops = &block_qcow2_ops;
	ret = b->ops->open(b, spec, err);
	if (ret) {
		if (b->fd >= 0)
			close(b->fd);
		free(b);
		return ret;
	}
	*out = b;
	return 0;
}

static int check_range(struct block_dev *b, uint64_t off, uint64_t len)
{
	uint64_t size = block_size(b);

	return off > size || len > size - off ? -EINVAL : 0;
}

int block_submit(struct block_dev *b, struct block_req *r)
{
	bool write = r->op != BLOCK_OP_READ && r->op != BLOCK_OP_FLUSH;
	uint64_t len = 0;
	int ret;

	if (write && b->ro)
		return -EROFS;
	switch (r->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		if (r->iovcnt < 0 || r->iovcnt > IOV_MAX || (r->iovcnt && !r->iov))
			return -EINVAL;
		for (int i = 0; i < r->iovcnt; i++) {
			if (__builtin_add_overflow(len, r->iov[i].iov_len, &len))
				return -EINVAL;
		}
		ret = check_range(b, r->offset, len);
		if (ret)
			return ret;
		r->len = len;
		return r->op == BLOCK_OP_READ ? b->ops->readv(b, r) :
						b->ops->writev(b, r);
	case BLOCK_OP_FLUSH:
		return b->ops->flush(b, r);
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		ret = check_range(b, r->offset, r->len);
		if (ret)
			return ret;
		return r->op == BLOCK_OP_DISCARD ? b->ops->discard(b, r) :
						   b->ops->write_zeroes(b, r);
	}
	return -EINVAL;
}

uint64_t block_size(struct block_dev *b)
{
	return b->ops->size(b);
}

void block_drain(struct block_dev *b)
{
	b->ops->drain(b);
}

void block_plug(struct block_dev *b)
{
	if (b->aio)
		aio_plug(b->aio);
}

void block_unplug(struct block_dev *b)
{
	if (b->aio)
		aio_unplug(b->aio);
}

void block_set_batch_fn(struct block_dev *b, void (*fn)(void *arg), void *arg)
{
	if (b->ops->set_batch_fn)
		b->ops->set_batch_fn(b, fn, arg);
	else if (b->aio)
		aio_set_batch_fn(b->aio, fn, arg);
}

void block_close(struct block_dev *b)
{
	if (!b)
		return;
	b->ops->close(b);
	if (b->fd >= 0)
		close(b->fd); /* releases the OFD lock */
	free(b);
}
