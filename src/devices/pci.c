// SPDX-License-Identifier: GPL-2.0-only
/*
 * PCI bus 0 with configuration mechanism #1, after the PCI Local Bus
 * Specification 3.0 (3.2.2.3.2 and chapter 6).
 *
 * CONFIG_ADDRESS (0xcf8) is only decoded for dword accesses; byte and word
 * accesses to 0xcf8-0xcfb read all-ones and are otherwise ignored. Through
 * CONFIG_DATA (0xcfc-0xcff) any size at any offset reaches the dword the
 * address selects, offset by the port. Only bus 0, function 0 of each slot
 * exists: everything else reads all-ones.
 *
 * Writes go through a per-byte write mask (and write-1-to-clear mask), so
 * read-only fields ignore writes and BAR sizing works by itself: the BAR's
 * mask only lets the address bits above its size through, so writing
 * all-ones reads back the size mask with the type bits. After a write to the
 * command register or a BAR, every BAR's mapping is brought in line with the
 * configuration: mapped at its address while its decode enable bit is set,
 * unmapped otherwise. A BAR whose new range collides with another range on
 * the bus stays unmapped until the collision goes away.
 *
 * Memory BARs are registered on the MMIO bus one by one. I/O BARs cannot
 * be: the config write that moves one arrives through the port bus, whose
 * lock its handler holds. So the bus claims the whole I/O window
 * [PCI_IO_BASE, PCI_IO_END) and dispatches to I/O BARs itself; an I/O BAR
 * moved outside that window does not decode.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"

#define PCI_HOST_VENDOR 0x1b36 /* Red Hat */
#define PCI_HOST_DEVICE 0x0008 /* generic PCIe host bridge */
#define PCI_HOST_CLASS 0x060000
#define PCI_MMIO_MIN_ALIGN 4096 /* keep devices on separate pages */

struct pci_bus {
	pthread_mutex_t lock;
	struct bus *mmio, *pio;
	uint64_t mmio_base, mmio_end, mmio_next;
	uint64_t io_next;
	uint32_t address; /* CONFIG_ADDRESS */
	struct pci_device *slot[PCI_MAX_SLOTS];
	struct pci_device host;
};

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	wr16(&d->config[PCI_VENDOR_ID], vendor);
	wr16(&d->config[PCI_DEVICE_ID], device);
	d->config[PCI_REVISION_ID] = revision;
	d->config[PCI_CLASS_PROG] = class_code;
	d->config[PCI_CLASS_DEVICE] = class_code >> 8;
	d->config[PCI_CLASS_DEVICE + 1] = class_code >> 16;
	wr16(&d->wmask[PCI_COMMAND], PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
					     PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
					     PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	/* Error bits of the status register are write-1-to-clear. */
	wr16(&d->w1cmask[PCI_STATUS], 0xf900);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_LATENCY_TIMER] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_next = PCI_CAP_FIRST;
}

int pci_add_capability(struct pci_device *d, uint8_t id, uint8_t size)
{
	unsigned int off = (d->cap_next + 3) & ~3u;
	uint8_t *link = &d->config[PCI_CAPABILITY_LIST];

	if (off < PCI_CAP_FIRST)
		off = PCI_CAP_FIRST;
	if (size < 2 || off + size > PCI_CFG_SPACE_SIZE)
		return -ENOSPC;
	/* Append: follow the list to its last link. */
	while (*link)
		link = &d->config[*link + 1];
	*link = off;
	d->config[off] = id;
	d->config[off + 1] = 0;
	d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_next = off + size;
	return off;
}

uint64_t pci_bar_address(const struct pci_device *d, int i)
{
	const struct pci_bar *bar = &d->bar[i];
	uint32_t lo = rd32(&d->config[PCI_BASE_ADDRESS_0 + 4 * i]);
	uint64_t addr;

	if (bar->is_io)
		return lo & 0xfffc;
	addr = lo & ~0xfull;
	if (bar->is_64bit && i + 1 < PCI_NUM_BARS)
		addr |= (uint64_t)rd32(&d->config[PCI_BASE_ADDRESS_0 + 4 * (i + 1)])
			<< 32;
	return addr;
}

static bool pci_bar_wanted(struct pci_bus *pb, const struct pci_device *d, int i,
			   uint64_t *addr)
{
	const struct pci_bar *bar = &d->bar[i];
	uint16_t cmd = d->config[PCI_COMMAND] | d->config[PCI_COMMAND + 1] << 8;
	uint16_t enable = bar->is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;

	*addr = pci_bar_address(d, i);
	if (!(cmd & enable) || !*addr || *addr + bar->size < *addr)
		return false;
	if (bar->is_io)
		return pb->pio && *addr >= PCI_IO_BASE && *addr + bar->size <= PCI_IO_END;
	return true;
}

/* The mapped I/O BAR that decodes @port, if any. */
static struct pci_bar *pci_io_bar_at(struct pci_bus *pb, uint64_t port, uint64_t len)
{
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *d = pb->slot[s];

		for (int i = 0; d && i < PCI_NUM_BARS; i++) {
			struct pci_bar *bar = &d->bar[i];

			if (bar->size && bar->is_io && bar->mapped &&
			    port < bar->mapped_addr + bar->size &&
			    port + len > bar->mapped_addr)
				return bar;
		}
	}
	return NULL;
}

static void pci_unmap_stale(struct pci_bus *pb, struct pci_device *d, bool all)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &d->bar[i];
		uint64_t addr;

		if (!bar->size || !bar->mapped)
			continue;
		if (!all && pci_bar_wanted(pb, d, i, &addr) && addr == bar->mapped_addr)
			continue;
		if (!bar->is_io)
			bus_unregister(pb->mmio, bar->mapped_addr, bar->dev);
		bar->mapped = false;
	}
}

static void pci_map_wanted(struct pci_bus *pb, struct pci_device *d)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &d->bar[i];
		uint64_t addr;

		if (!bar->size || bar->mapped || !pci_bar_wanted(pb, d, i, &addr))
			continue;
		if (bar->is_io ? pci_io_bar_at(pb, addr, bar->size) != NULL :
				 bus_register(pb->mmio, addr, bar->size, bar->ops,
					      bar->dev, d->name) != 0)
			continue;
		bar->mapped = true;
		bar->mapped_addr = addr;
	}
}

/* Brings every BAR mapping in line with the configuration. Unmapping comes
 * first, so a BAR moved onto a range another one just left gets it. */
static void pci_sync_all(struct pci_bus *pb)
{
	for (int s = 0; s < PCI_MAX_SLOTS; s++)
		if (pb->slot[s])
			pci_unmap_stale(pb, pb->slot[s], false);
	for (int s = 0; s < PCI_MAX_SLOTS; s++)
		if (pb->slot[s])
			pci_map_wanted(pb, pb->slot[s]);
}

static bool pci_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int pci_check_bars(const struct pci_device *d, struct kb_err *err)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &d->bar[i];

		if (!bar->size)
			continue;
		if (!pci_is_pow2(bar->size) || !bar->ops)
			return kb_err_set(err, -EINVAL, "pci: %s: BAR%d: size %#llx",
					  d->name, i, (unsigned long long)bar->size);
		if (bar->is_io && (bar->is_64bit || bar->prefetchable || bar->size < 4 ||
				   bar->size > 256))
			return kb_err_set(err, -EINVAL, "pci: %s: BAR%d: bad I/O BAR",
					  d->name, i);
		if (!bar->is_io && bar->size < 16)
			return kb_err_set(err, -EINVAL,
					  "pci: %s: BAR%d: memory BAR < 16 bytes",
					  d->name, i);
		if (!bar->is_64bit && !bar->is_io && bar->size > 0x80000000ull)
			return kb_err_set(err, -EINVAL,
					  "pci: %s: BAR%d: too big for 32 bits", d->name,
					  i);
		if (bar->is_64bit) {
			if (i == PCI_NUM_BARS - 1 || d->bar[i + 1].size)
				return kb_err_set(
					err, -EINVAL,
					"pci: %s: BAR%d: 64-bit BAR needs BAR%d free",
					d->name, i, i + 1);
			i++;
		}
	}
	return 0;
}

static uint64_t pci_align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* Gives each BAR an address and writes its register and write mask. */
static int pci_assign_bars(struct pci_bus *pb, struct pci_device *d, struct kb_err *err)
{
	uint64_t mmio_next = pb->mmio_next, io_next = pb->io_next;
	uint64_t addr[PCI_NUM_BARS] = { 0 };
	uint16_t cmd = 0;

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &d->bar[i];
		uint64_t align = bar->size;

		if (!bar->size)
			continue;
		if (bar->is_io) {
			addr[i] = pci_align_up(io_next, align);
			if (addr[i] + bar->size > PCI_IO_END)
				return kb_err_set(err, -ENOSPC,
						  "pci: %s: out of I/O space", d->name);
			io_next = addr[i] + bar->size;
			cmd |= PCI_COMMAND_IO;
		} else {
			if (align < PCI_MMIO_MIN_ALIGN)
				align = PCI_MMIO_MIN_ALIGN;
			addr[i] = pci_align_up(mmio_next, align);
			if (addr[i] < mmio_next || addr[i] + bar->size > pb->mmio_end)
				return kb_err_set(err, -ENOSPC,
						  "pci: %s: out of MMIO space", d->name);
			mmio_next = addr[i] + bar->size;
			cmd |= PCI_COMMAND_MEMORY;
		}
		if (bar->is_64bit)
			i++;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &d->bar[i];
		uint8_t *reg = &d->config[PCI_BASE_ADDRESS_0 + 4 * i];
		uint8_t *mask = &d->wmask[PCI_BASE_ADDRESS_0 + 4 * i];
		uint64_t size_mask = ~(bar->size - 1);

		if (!bar->size)
			continue;
		if (bar->is_io) {
			wr32(reg, addr[i] | PCI_BASE_ADDRESS_SPACE_IO);
			wr32(mask, size_mask & 0xfffc);
			continue;
		}
		wr32(reg,
		     addr[i] | (bar->is_64bit ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
			     (bar->prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0));
		wr32(mask, size_mask & 0xfffffff0);
		if (bar->is_64bit) {
			wr32(reg + 4, addr[i] >> 32);
			wr32(mask + 4, size_mask >> 32);
			i++;
		}
	}
	pb->mmio_next = mmio_next;
	pb->io_next = io_next;
	wr16(&d->config[PCI_COMMAND], cmd);
	return 0;
}

int pci_bus_add(struct pci_bus *pb, struct pci_device *d, struct kb_err *err)
{
	int slot, ret;

	if (d->bus)
		return kb_err_set(err, -EBUSY, "pci: %s: already on a bus", d->name);
	ret = pci_check_bars(d, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&pb->lock);
	for (slot = 0; slot < PCI_MAX_SLOTS && pb->slot[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS) {
		ret = kb_err_set(err, -ENOSPC, "pci: %s: no free slot on bus 0", d->name);
		goto out;
	}
	ret = pci_assign_bars(pb, d, err);
	if (ret)
		goto out;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		d->bar[i].mapped = false;
	d->bus = pb;
	d->devfn = slot << 3;
	pb->slot[slot] = d;
	pci_sync_all(pb);
out:
	pthread_mutex_unlock(&pb->lock);
	return ret;
}

void pci_bus_remove(struct pci_device *d)
{
	struct pci_bus *pb = d->bus;

	if (!pb)
		return;
	pthread_mutex_lock(&pb->lock);
	pci_unmap_stale(pb, d, true);
	pb->slot[d->devfn >> 3] = NULL;
	d->bus = NULL;
	pci_sync_all(pb);
	pthread_mutex_unlock(&pb->lock);
}

static struct pci_device *pci_lookup(struct pci_bus *pb, uint32_t address)
{
	unsigned int bus = (address >> 16) & 0xff, devfn = (address >> 8) & 0xff;

	if (!(address & PCI_CONFIG_ENABLE) || bus != 0 || (devfn & 7))
		return NULL;
	return pb->slot[devfn >> 3];
}

static bool pci_overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t end)
{
	return off < end && off + len > start;
}

static void pci_config_write(struct pci_bus *pb, struct pci_device *d, uint32_t off,
			     const uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;
		uint8_t v = data[i];

		d->config[o] = (d->config[o] & ~d->wmask[o]) | (v & d->wmask[o]);
		d->config[o] &= ~(v & d->w1cmask[o]);
	}
	if (pci_overlaps(off, len, PCI_COMMAND, PCI_COMMAND + 2) ||
	    pci_overlaps(off, len, PCI_BASE_ADDRESS_0,
			 PCI_BASE_ADDRESS_0 + 4 * PCI_NUM_BARS))
		pci_sync_all(pb);
	if (d->config_write)
		d->config_write(d, off, len);
}

static void pci_addr_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_bus *pb = dev;

	memset(data, 0xff, len);
	if (off != 0 || len != 4)
		return;
	pthread_mutex_lock(&pb->lock);
	wr32(data, pb->address);
	pthread_mutex_unlock(&pb->lock);
}

static void pci_addr_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_bus *pb = dev;

	if (off != 0 || len != 4)
		return;
	pthread_mutex_lock(&pb->lock);
	/* Bits 30:24 are reserved, 1:0 select type 0/1 cycles: read as 0. */
	pb->address = rd32(data) & 0x80fffffc;
	pthread_mutex_unlock(&pb->lock);
}

static void pci_data_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_bus *pb = dev;
	struct pci_device *d;

	memset(data, 0xff, len);
	if (off >= 4)
		return;
	if (off + len > 4)
		len = 4 - off;
	pthread_mutex_lock(&pb->lock);
	d = pci_lookup(pb, pb->address);
	if (d)
		memcpy(data, &d->config[(pb->address & 0xfc) + off], len);
	pthread_mutex_unlock(&pb->lock);
}

static void pci_data_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_bus *pb = dev;
	struct pci_device *d;

	if (off >= 4)
		return;
	if (off + len > 4)
		len = 4 - off;
	pthread_mutex_lock(&pb->lock);
	d = pci_lookup(pb, pb->address);
	if (d)
		pci_config_write(pb, d, (pb->address & 0xfc) + off, data, len);
	pthread_mutex_unlock(&pb->lock);
}

/*
 * I/O BARs are not registered on the port bus one by one: a config write
 * arrives through that bus, which cannot be changed from its own handler.
 * The bus owns the I/O window instead and dispatches here.
 */
static bool pci_io_lookup(struct pci_bus *pb, uint64_t off, struct pci_bar *out)
{
	struct pci_bar *bar;

	pthread_mutex_lock(&pb->lock);
	bar = pci_io_bar_at(pb, PCI_IO_BASE + off, 1);
	if (bar)
		*out = *bar;
	pthread_mutex_unlock(&pb->lock);
	return bar != NULL;
}

static void pci_io_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct pci_bar bar;

	memset(data, 0xff, len);
	if (pci_io_lookup(dev, off, &bar) && bar.ops->read)
		bar.ops->read(bar.dev, PCI_IO_BASE + off - bar.mapped_addr, data, len);
}

static void pci_io_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pci_bar bar;

	if (pci_io_lookup(dev, off, &bar) && bar.ops->write)
		bar.ops->write(bar.dev, PCI_IO_BASE + off - bar.mapped_addr, data, len);
}

static const struct bus_ops pci_io_ops = {
	.read = pci_io_read,
	.write = pci_io_write,
};

static const struct bus_ops pci_addr_ops = {
	.read = pci_addr_read,
	.write = pci_addr_write,
};

static const struct bus_ops pci_data_ops = {
	.read = pci_data_read,
	.write = pci_data_write,
};

struct pci_bus *pci_bus_create(struct bus *mmio, uint64_t mmio_base, uint64_t mmio_end)
{
	struct pci_bus *pb;

	if (!mmio || mmio_end <= mmio_base)
		return NULL;
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return NULL;
	if (pthread_mutex_init(&pb->lock, NULL)) {
		free(pb);
		return NULL;
	}
	pb->mmio = mmio;
	pb->mmio_base = mmio_base;
	pb->mmio_end = mmio_end;
	pb->mmio_next = mmio_base;
	pb->io_next = PCI_IO_BASE;
	pci_device_init(&pb->host, "pci-host", PCI_HOST_VENDOR, PCI_HOST_DEVICE,
			PCI_HOST_CLASS, 0);
	pb->host.bus = pb;
	pb->slot[0] = &pb->host;
	return pb;
}

int pci_bus_attach(struct pci_bus *pb, struct bus *pio)
{
	int ret;

	if (pb->pio)
		return -EBUSY;
	ret = bus_register(pio, PCI_CONFIG_ADDRESS, 4, &pci_addr_ops, pb, "pci-address");
	if (ret)
		return ret;
	ret = bus_register(pio, PCI_CONFIG_DATA, 4, &pci_data_ops, pb, "pci-data");
	if (ret)
		goto err_addr;
	ret = bus_register(pio, PCI_IO_BASE, PCI_IO_END - PCI_IO_BASE, &pci_io_ops, pb,
			   "pci-io");
	if (ret)
		goto err_data;
	pthread_mutex_lock(&pb->lock);
	pb->pio = pio;
	pci_sync_all(pb); /* I/O BARs added before now */
	pthread_mutex_unlock(&pb->lock);
	return 0;

err_data:
	bus_unregister(pio, PCI_CONFIG_DATA, pb);
err_addr:
	bus_unregister(pio, PCI_CONFIG_ADDRESS, pb);
	return ret;
}

void pci_bus_destroy(struct pci_bus *pb)
{
	if (!pb)
		return;
	pthread_mutex_lock(&pb->lock);
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *d = pb->slot[s];

		if (!d)
			continue;
		pci_unmap_stale(pb, d, true);
		d->bus = NULL;
		pb->slot[s] = NULL;
	}
	pthread_mutex_unlock(&pb->lock);
	if (pb->pio) {
		bus_unregister(pb->pio, PCI_CONFIG_ADDRESS, pb);
		bus_unregister(pb->pio, PCI_CONFIG_DATA, pb);
		bus_unregister(pb->pio, PCI_IO_BASE, pb);
	}
	pthread_mutex_destroy(&pb->lock);
	free(pb);
}
