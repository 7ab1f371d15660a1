// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/pci.h"
#include "devices/pvpanic.h"

#define WIN_BASE 0xc0000000ull
#define WIN_END 0xfec00000ull

struct fixture {
	struct bus pio, mmio;
	struct pci_bus *pb;
};

/* A device whose BARs answer with their own offset and remember writes. */
struct fake {
	struct pci_device pci;
	uint64_t last_off;
	uint32_t last_val;
	int writes;
};

static void fake_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(off + i);
}

static void fake_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct fake *f = dev;

	f->last_off = off;
	f->last_val = 0;
	memcpy(&f->last_val, data, len < 4 ? len : 4);
	f->writes++;
}

static const struct bus_ops fake_ops = { fake_read, fake_write };

static void fake_init(struct fake *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	pci_device_init(&f->pci, name, 0x1af4, 0x1234, 0x020000, 0x05);
	f->pci.config[PCI_INTERRUPT_PIN] = 1;
	f->pci.bar[0] = (struct pci_bar){ .size = 0x1000, .ops = &fake_ops, .dev = f };
	f->pci.bar[1] = (struct pci_bar){
		.size = 0x20, .is_io = true, .ops = &fake_ops, .dev = f
	};
	f->pci.bar[2] = (struct pci_bar){ .size = 0x100000,
					  .is_64bit = true,
					  .prefetchable = true,
					  .ops = &fake_ops,
					  .dev = f };
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bus_init(&f->pio);
	bus_init(&f->mmio);
	f->pb = pci_bus_create(&f->mmio, WIN_BASE, WIN_END);
	assert_non_null(f->pb);
	assert_int_equal(pci_bus_attach(f->pb, &f->pio), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pci_bus_destroy(f->pb);
	assert_int_equal(f->pio.nr, 0);
	assert_int_equal(f->mmio.nr, 0);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f);
	return 0;
}

static uint32_t cfg_addr(unsigned int dev, unsigned int fn, unsigned int reg)
{
	return PCI_CONFIG_ENABLE | dev << 11 | fn << 8 | (reg & 0xfc);
}

static void outl(struct fixture *f, uint16_t port, uint32_t v)
{
	uint8_t d[4] = { v, v >> 8, v >> 16, v >> 24 };

	assert_true(bus_access(&f->pio, port, d, 4, true));
}

static uint32_t inl(struct fixture *f, uint16_t port)
{
	uint8_t d[4];

	assert_true(bus_access(&f->pio, port, d, 4, false));
	return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

/* Config read/write of @len bytes at @reg, through 0xcf8/0xcfc + (reg & 3). */
static uint32_t cfg_read(struct fixture *f, unsigned int dev, unsigned int reg,
			 uint32_t len)
{
	uint8_t d[4] = { 0 };
	uint32_t v = 0;

	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(dev, 0, reg));
	assert_true(bus_access(&f->pio, PCI_CONFIG_DATA + (reg & 3), d, len, false));
	memcpy(&v, d, len);
	return v;
}

static void cfg_write(struct fixture *f, unsigned int dev, unsigned int reg, uint32_t len,
		      uint32_t v)
{
	uint8_t d[4] = { v, v >> 8, v >> 16, v >> 24 };

	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(dev, 0, reg));
	assert_true(bus_access(&f->pio, PCI_CONFIG_DATA + (reg & 3), d, len, true));
}

/* Reads one byte of MMIO; false if nothing is mapped there. */
static bool mmio_peek(struct fixture *f, uint64_t addr, uint8_t *v)
{
	return bus_access(&f->mmio, addr, v, 1, false);
}

static void test_host_bridge(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cfg_read(f, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	assert_int_equal(cfg_read(f, 0, PCI_REVISION_ID, 4), 0x06000000);
	assert_int_equal(cfg_read(f, 0, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(cfg_read(f, 0, PCI_BASE_ADDRESS_0, 4), 0);
	/* Linux's pci_sanity_check() looks for this class. */
	assert_int_equal(cfg_read(f, 0, PCI_CLASS_DEVICE, 2), 0x0600);
}

static void test_address_register(void **state)
{
	struct fixture *f = *state;
	uint8_t b = 0x01;

	/* pci_check_type1(): outb(1, 0xcfb), then the address must stick. */
	assert_true(bus_access(&f->pio, 0xcfb, &b, 1, true));
	outl(f, PCI_CONFIG_ADDRESS, 0x80000000);
	assert_int_equal(inl(f, PCI_CONFIG_ADDRESS), 0x80000000);
	assert_true(bus_access(&f->pio, 0xcfb, &b, 1, true));
	assert_int_equal(inl(f, PCI_CONFIG_ADDRESS), 0x80000000);
	/* Reserved bits read as zero. */
	outl(f, PCI_CONFIG_ADDRESS, 0xffffffff);
	assert_int_equal(inl(f, PCI_CONFIG_ADDRESS), 0x80fffffc);
	/* Byte reads of the address port are not decoded. */
	assert_true(bus_access(&f->pio, PCI_CONFIG_ADDRESS, &b, 1, false));
	assert_int_equal(b, 0xff);
}

static void test_empty_slots(void **state)
{
	struct fixture *f = *state;

	for (unsigned int dev = 1; dev < 32; dev++)
		assert_int_equal(cfg_read(f, dev, PCI_VENDOR_ID, 4), 0xffffffff);
	assert_int_equal(cfg_read(f, 7, PCI_VENDOR_ID, 2), 0xffff);
	/* Other functions of slot 0, other buses, and the enable bit clear. */
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, 1, 0));
	assert_int_equal(inl(f, PCI_CONFIG_DATA), 0xffffffff);
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(0, 0, 0) | 1 << 16);
	assert_int_equal(inl(f, PCI_CONFIG_DATA), 0xffffffff);
	outl(f, PCI_CONFIG_ADDRESS, 0);
	assert_int_equal(inl(f, PCI_CONFIG_DATA), 0xffffffff);
}

static void test_add_device(void **state)
{
	struct fixture *f = *state;
	struct fake dev;
	struct kb_err err = { 0 };
	uint32_t bar0, bar1;
	uint64_t bar2;
	uint8_t v, d[2];

	fake_init(&dev, "fake");
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, &err), 0);
	assert_int_equal(dev.pci.devfn, 1 << 3);
	assert_int_equal(cfg_read(f, 1, PCI_VENDOR_ID, 4), 0x12341af4);
	assert_int_equal(cfg_read(f, 1, PCI_REVISION_ID, 4), 0x02000005);
	assert_int_equal(cfg_read(f, 1, PCI_INTERRUPT_PIN, 1), 1);
	/* Decoding on, as firmware leaves it. */
	assert_int_equal(cfg_read(f, 1, PCI_COMMAND, 2),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY);

	bar0 = cfg_read(f, 1, PCI_BASE_ADDRESS_0, 4);
	bar1 = cfg_read(f, 1, PCI_BASE_ADDRESS_0 + 4, 4);
	bar2 = cfg_read(f, 1, PCI_BASE_ADDRESS_0 + 8, 4) |
	       (uint64_t)cfg_read(f, 1, PCI_BASE_ADDRESS_0 + 12, 4) << 32;
	assert_int_equal(bar0 & 0xf, 0); /* memory, 32-bit, not prefetchable */
	assert_true(bar0 >= WIN_BASE && bar0 + 0x1000 <= WIN_END);
	assert_int_equal(bar0 & 0xfff, 0);
	assert_int_equal(bar1 & 3, PCI_BASE_ADDRESS_SPACE_IO);
	assert_true((bar1 & ~3u) >= PCI_IO_BASE && (bar1 & ~3u) < PCI_IO_END);
	assert_int_equal(bar1 & 0x1f & ~3u, 0);
	assert_int_equal(bar2 & 0xf,
			 PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	bar2 &= ~0xfull;
	assert_int_equal(bar2 & 0xfffff, 0); /* naturally aligned */
	assert_true(bar2 >= WIN_BASE && bar2 + 0x100000 <= WIN_END);
	assert_true(bar2 >= bar0 + 0x1000 || bar2 + 0x100000 <= bar0);
	assert_int_equal(pci_bar_address(&dev.pci, 2), bar2);

	/* The BARs are live on their buses. */
	assert_true(mmio_peek(f, bar0 + 0x123, &v));
	assert_int_equal(v, 0x23);
	assert_true(bus_access(&f->pio, (bar1 & ~3u) + 5, d, 1, false));
	assert_int_equal(d[0], 5);
	assert_true(mmio_peek(f, bar2 + 0xabcde, &v));
	assert_int_equal(v, 0xde);
	d[0] = 0x77;
	d[1] = 0x66;
	assert_true(bus_access(&f->mmio, bar0 + 8, d, 2, true));
	assert_int_equal(dev.last_off, 8);
	assert_int_equal(dev.last_val, 0x6677);
	pci_bus_remove(&dev.pci);
	assert_int_equal(cfg_read(f, 1, PCI_VENDOR_ID, 4), 0xffffffff);
	assert_false(mmio_peek(f, bar0, &v));
	assert_false(mmio_peek(f, bar2, &v));
}

static void test_bar_sizing_and_moving(void **state)
{
	struct fixture *f = *state;
	struct fake dev;
	uint32_t bar0, cmd;
	uint64_t bar2;
	uint8_t v;

	fake_init(&dev, "fake");
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, NULL), 0);
	bar0 = cfg_read(f, 1, PCI_BASE_ADDRESS_0, 4);
	bar2 = pci_bar_address(&dev.pci, 2);

	/* As Linux's __pci_read_base(): decoding off, write ~0, read, restore. */
	cmd = cfg_read(f, 1, PCI_COMMAND, 2);
	cfg_write(f, 1, PCI_COMMAND, 2, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	assert_false(mmio_peek(f, bar0, &v));
	assert_false(mmio_peek(f, bar2, &v));
	cfg_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 4, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, PCI_BASE_ADDRESS_0 + 4, 4), 0x0000ffe1);
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 8, 4, 0xffffffff);
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 12, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, PCI_BASE_ADDRESS_0 + 8, 4), 0xfff0000c);
	assert_int_equal(cfg_read(f, 1, PCI_BASE_ADDRESS_0 + 12, 4), 0xffffffff);
	/* Unused BAR registers and the ROM BAR read 0 after ~0. */
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 16, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, PCI_BASE_ADDRESS_0 + 16, 4), 0);
	cfg_write(f, 1, PCI_ROM_ADDRESS, 4, 0xfffff800);
	assert_int_equal(cfg_read(f, 1, PCI_ROM_ADDRESS, 4), 0);

	/* Move BAR0 and BAR2 (above 4 GiB); nothing shows until decoding is on. */
	cfg_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xd0000000);
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 4, 4, 0xe000);
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 8, 4, 0x00100000);
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 12, 4, 0x1);
	assert_false(mmio_peek(f, 0xd0000000, &v));
	cfg_write(f, 1, PCI_COMMAND, 2, cmd);
	assert_false(mmio_peek(f, bar0, &v));
	assert_false(mmio_peek(f, bar2, &v));
	assert_true(mmio_peek(f, 0xd0000fff, &v));
	assert_int_equal(v, 0xff);
	assert_false(mmio_peek(f, 0xd0001000, &v));
	assert_true(mmio_peek(f, 0x100100010ull, &v));
	assert_int_equal(v, 0x10);
	assert_true(bus_access(&f->pio, 0xe01f, &v, 1, false));
	assert_int_equal(v, 0x1f);
	assert_int_equal(pci_bar_address(&dev.pci, 2), 0x100100000ull);

	/* Memory decoding off alone leaves the I/O BAR mapped. */
	cfg_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_IO);
	assert_false(mmio_peek(f, 0xd0000000, &v));
	assert_true(bus_access(&f->pio, 0xe000, &v, 1, false));
	/* A byte write to the command register turns memory back on. */
	cfg_write(f, 1, PCI_COMMAND, 1, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	assert_true(mmio_peek(f, 0xd0000000, &v));
	/* Moving a live BAR with a byte write to its top byte. */
	cfg_write(f, 1, PCI_BASE_ADDRESS_0 + 3, 1, 0xd1);
	assert_false(mmio_peek(f, 0xd0000000, &v));
	assert_true(mmio_peek(f, 0xd1000000, &v));
	pci_bus_remove(&dev.pci);
}

static void test_sub_dword_and_read_only(void **state)
{
	struct fixture *f = *state;
	struct fake dev;

	fake_init(&dev, "fake");
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, NULL), 0);
	assert_int_equal(cfg_read(f, 1, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfg_read(f, 1, PCI_DEVICE_ID, 2), 0x1234);
	assert_int_equal(cfg_read(f, 1, PCI_DEVICE_ID + 1, 1), 0x12);
	assert_int_equal(cfg_read(f, 1, PCI_CLASS_DEVICE + 1, 1), 0x02);
	assert_int_equal(cfg_read(f, 1, PCI_CLASS_PROG, 1), 0x00);
	assert_int_equal(cfg_read(f, 1, PCI_INTERRUPT_PIN, 2), 0x0001 << 0);

	/* Read-only: IDs, class, revision, header type, interrupt pin. */
	cfg_write(f, 1, PCI_VENDOR_ID, 4, 0xffffffff);
	cfg_write(f, 1, PCI_REVISION_ID, 4, 0xffffffff);
	cfg_write(f, 1, PCI_CACHE_LINE_SIZE, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, PCI_VENDOR_ID, 4), 0x12341af4);
	assert_int_equal(cfg_read(f, 1, PCI_REVISION_ID, 4), 0x02000005);
	assert_int_equal(cfg_read(f, 1, PCI_CACHE_LINE_SIZE, 4), 0x0000ffff);
	cfg_write(f, 0, PCI_VENDOR_ID, 2, 0);
	assert_int_equal(cfg_read(f, 0, PCI_VENDOR_ID, 4), 0x00081b36);

	/* Interrupt line is writable, the pin next to it is not. */
	cfg_write(f, 1, PCI_INTERRUPT_LINE, 2, 0x050b);
	assert_int_equal(cfg_read(f, 1, PCI_INTERRUPT_LINE, 4), 0x0000010b);
	/* Status error bits are write-1-to-clear; a word write at 0xcfe
	 * lands in the upper half of the dword. */
	dev.pci.config[PCI_STATUS + 1] = 0x28; /* target abort, master abort */
	cfg_write(f, 1, PCI_STATUS, 2, 0x0800);
	assert_int_equal(cfg_read(f, 1, PCI_STATUS, 2), 0x2000);
	cfg_write(f, 1, PCI_COMMAND + 2, 2, 0xffff);
	assert_int_equal(cfg_read(f, 1, PCI_COMMAND, 4),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	cfg_write(f, 1, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(cfg_read(f, 1, PCI_COMMAND, 2),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
				 PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
				 PCI_COMMAND_INTX_DISABLE);
	/* A dword access at 0xcfd stops at the end of the dword. */
	outl(f, PCI_CONFIG_ADDRESS, cfg_addr(1, 0, PCI_VENDOR_ID));
	{
		uint8_t d[4];

		assert_true(bus_access(&f->pio, PCI_CONFIG_DATA + 1, d, 4, false));
		assert_int_equal(d[0], 0x1a);
		assert_int_equal(d[2], 0x12);
		assert_int_equal(d[3], 0xff);
	}
	pci_bus_remove(&dev.pci);
}

static void test_capabilities(void **state)
{
	struct fixture *f = *state;
	struct fake dev;

	fake_init(&dev, "fake");
	assert_int_equal(pci_add_capability(&dev.pci, 0x11, 12), 0x40);
	assert_int_equal(pci_add_capability(&dev.pci, 0x09, 7), 0x4c);
	assert_int_equal(pci_add_capability(&dev.pci, 0x05, 14), 0x54);
	assert_int_equal(pci_add_capability(&dev.pci, 0x09, 200), -ENOSPC);
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, NULL), 0);
	assert_int_equal(cfg_read(f, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST,
			 PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg_read(f, 1, PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(cfg_read(f, 1, 0x40, 2), 0x4c11);
	assert_int_equal(cfg_read(f, 1, 0x4c, 2), 0x5409);
	assert_int_equal(cfg_read(f, 1, 0x54, 2), 0x0005);
	/* Capability bodies are read-only unless their owner says otherwise. */
	cfg_write(f, 1, 0x40, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, 0x40, 4), 0x00004c11);
	dev.pci.wmask[0x43] = 0xc0;
	cfg_write(f, 1, 0x40, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, 0x40, 4), 0xc0004c11);
	/* The host bridge has no capabilities. */
	assert_int_equal(cfg_read(f, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	pci_bus_remove(&dev.pci);
}

static void test_bar_collision(void **state)
{
	struct fixture *f = *state;
	struct fake a, b;
	uint64_t a0, b0;
	uint8_t v;

	fake_init(&a, "a");
	fake_init(&b, "b");
	assert_int_equal(pci_bus_add(f->pb, &a.pci, NULL), 0);
	assert_int_equal(pci_bus_add(f->pb, &b.pci, NULL), 0);
	assert_int_equal(b.pci.devfn, 2 << 3);
	a0 = pci_bar_address(&a.pci, 0);
	b0 = pci_bar_address(&b.pci, 0);
	assert_int_not_equal(a0, b0);
	/* Move A's BAR0 onto B's: it cannot be mapped there, B keeps it. */
	cfg_write(f, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)b0);
	b.writes = a.writes = 0;
	assert_true(bus_access(&f->mmio, b0, &v, 1, true));
	assert_int_equal(b.writes, 1);
	assert_int_equal(a.writes, 0);
	assert_false(mmio_peek(f, a0, &v));
	/* B moves away: A gets the range. */
	cfg_write(f, 2, PCI_BASE_ADDRESS_0, 4, 0xe0000000);
	assert_true(bus_access(&f->mmio, b0, &v, 1, true));
	assert_int_equal(a.writes, 1);
	assert_true(bus_access(&f->mmio, 0xe0000000, &v, 1, true));
	assert_int_equal(b.writes, 2);
	pci_bus_remove(&a.pci);
	pci_bus_remove(&b.pci);
}

static void test_add_errors(void **state)
{
	struct fixture *f = *state;
	struct kb_err err = { 0 };
	struct fake dev, many[31];
	struct pci_bus *small;

	fake_init(&dev, "bad");
	dev.pci.bar[0].size = 3000;
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bad"));
	fake_init(&dev, "bad");
	dev.pci.bar[5] = dev.pci.bar[2]; /* 64-bit BAR in the last register */
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, &err), -EINVAL);
	fake_init(&dev, "bad");
	dev.pci.bar[3].size = 16; /* overlaps the upper half of BAR2 */
	dev.pci.bar[3].ops = &fake_ops;
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, &err), -EINVAL);
	assert_null(dev.pci.bus);

	/* Out of MMIO space: a 1 MiB window cannot hold a 1 MiB and a 4 KiB BAR. */
	small = pci_bus_create(&f->mmio, 0x80000000, 0x80100000);
	assert_non_null(small);
	fake_init(&dev, "big");
	assert_int_equal(pci_bus_add(small, &dev.pci, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "MMIO"));
	assert_int_equal(f->mmio.nr, 0);
	pci_bus_destroy(small);

	/* Out of slots: 31 after the host bridge. */
	for (int i = 0; i < 31; i++) {
		fake_init(&many[i], "many");
		many[i].pci.bar[1].size =
			0; /* 31 * 32 ports would fit, but keep it small */
		assert_int_equal(pci_bus_add(f->pb, &many[i].pci, &err), 0);
	}
	fake_init(&dev, "extra");
	assert_int_equal(pci_bus_add(f->pb, &dev.pci, &err), -ENOSPC);
	assert_int_equal(pci_bus_add(f->pb, &many[0].pci, &err), -EBUSY);
	/* pci_bus_destroy() (teardown) detaches the rest. */
	pci_bus_destroy(f->pb);
	f->pb = pci_bus_create(&f->mmio, WIN_BASE, WIN_END);
	assert_non_null(f->pb);
	assert_null(many[30].pci.bus);
	assert_int_equal(f->mmio.nr, 0);
	assert_int_equal(f->pio.nr, 0);
}

static void test_io_bar_before_attach(void **state)
{
	struct fixture *f = *state;
	struct pci_bus *pb;
	struct bus pio;
	struct fake dev;
	uint8_t v;

	bus_init(&pio);
	pb = pci_bus_create(&f->mmio, 0x80000000, 0x90000000);
	assert_non_null(pb);
	fake_init(&dev, "early");
	assert_int_equal(pci_bus_add(pb, &dev.pci, NULL), 0);
	assert_true(mmio_peek(f, pci_bar_address(&dev.pci, 0), &v));
	assert_int_equal(pio.nr, 0);
	assert_int_equal(pci_bus_attach(pb, &pio), 0);
	/* config ports + the I/O BAR */
	assert_int_equal(pio.nr, 3);
	assert_true(bus_access(&pio, pci_bar_address(&dev.pci, 1) + 2, &v, 1, false));
	assert_int_equal(v, 2);
	pci_bus_destroy(pb);
	assert_int_equal(pio.nr, 0);
	bus_destroy(&pio);
}

struct panic_rec {
	int calls;
	uint8_t ev;
};

static void on_panic(void *ctx, uint8_t ev)
{
	struct panic_rec *r = ctx;

	r->calls++;
	r->ev = ev;
}

static void test_pvpanic(void **state)
{
	struct fixture *f = *state;
	struct panic_rec rec = { 0 };
	struct pvpanic *p = pvpanic_create(on_panic, &rec);
	struct pci_device *d;
	uint32_t bar;
	uint8_t v;

	assert_non_null(p);
	assert_int_equal(pvpanic_attach(p, f->pb, NULL), 0);
	d = pvpanic_pci_device(p);
	assert_int_equal(d->devfn >> 3, 1);
	assert_int_equal(cfg_read(f, 1, PCI_VENDOR_ID, 4), 0x00111b36);
	assert_int_equal(cfg_read(f, 1, PCI_REVISION_ID, 4) >> 8, 0x088000);
	bar = cfg_read(f, 1, PCI_BASE_ADDRESS_0, 4);
	assert_int_equal(bar & 0xf, 0); /* 32-bit memory */
	cfg_write(f, 1, PCI_COMMAND, 2, 0);
	cfg_write(f, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, 1, PCI_BASE_ADDRESS_0, 4),
			 0xfffffff0); /* 16 bytes */
	cfg_write(f, 1, PCI_BASE_ADDRESS_0, 4, bar);
	cfg_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);

	assert_true(mmio_peek(f, bar, &v));
	assert_int_equal(v, PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	v = PVPANIC_PANICKED;
	assert_true(bus_access(&f->mmio, bar, &v, 1, true));
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.ev, PVPANIC_PANICKED);
	v = PVPANIC_CRASH_LOADED;
	assert_true(bus_access(&f->mmio, bar, &v, 1, true));
	assert_int_equal(rec.ev, PVPANIC_CRASH_LOADED);
	assert_int_equal(rec.calls, 2);
	pvpanic_destroy(p);
	assert_int_equal(cfg_read(f, 1, PCI_VENDOR_ID, 4), 0xffffffff);
	assert_int_equal(f->mmio.nr, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_host_bridge),
		T(test_address_register),
		T(test_empty_slots),
		T(test_add_device),
		T(test_bar_sizing_and_moving),
		T(test_sub_dword_and_read_only),
		T(test_capabilities),
		T(test_bar_collision),
		T(test_add_errors),
		T(test_io_bar_before_attach),
		T(test_pvpanic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
