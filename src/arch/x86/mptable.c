// SPDX-License-Identifier: GPL-2.0-only
/*
 * Intel MultiProcessor Specification 1.4 tables, written from the spec
 * (chapter 4, "MP Configuration Table"). Linux finds the floating pointer
 * by scanning the last KiB of base memory (0x9fc00) among other places.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

struct mpf_intel { /* floating pointer structure */
	char signature[4]; /* "_MP_" */
	uint32_t physptr; /* configuration table */
	uint8_t length; /* in 16-byte units: 1 */
	uint8_t spec_rev; /* 4 for 1.4 */
	uint8_t checksum;
	uint8_t feature1; /* 0: a configuration table is present */
	uint8_t feature2; /* bit 7 IMCRP: 0, virtual wire mode */
	uint8_t feature3[3];
} __attribute__((packed));

struct mpc_header {
	char signature[4]; /* "PCMP" */
	uint16_t length; /* base table, header included */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_processor {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t cpu_flags; /* bit 0 EN, bit 1 BP */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t version;
	uint8_t flags; /* bit 0 EN */
	uint32_t addr;
} __attribute__((packed));

struct mpc_interrupt { /* I/O (type 3) and local (type 4) interrupt entries */
	uint8_t type;
	uint8_t irq_type;
	uint16_t flags; /* polarity/trigger; 0: conforms to the bus */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic; /* IOAPIC id, or local APIC id (0xff: all) */
	uint8_t dst_pin; /* INTIN# or LINTIN# */
} __attribute__((packed));

static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
static_assert(sizeof(struct mpc_header) == 44, "MP config header is 44 bytes");
static_assert(sizeof(struct mpc_processor) == 20, "MP processor entry is 20 bytes");
static_assert(sizeof(struct mpc_bus) == 8, "MP bus entry is 8 bytes");
static_assert(sizeof(struct mpc_ioapic) == 8, "MP IOAPIC entry is 8 bytes");
static_assert(sizeof(struct mpc_interrupt) == 8, "MP interrupt entry is 8 bytes");

#define MP_SPEC_REV 4
#define CPU_FLAG_EN 0x01
#define CPU_FLAG_BP 0x02
#define IOAPIC_FLAG_EN 0x01
#define LAPIC_ALL 0xff
/* Family 6, model 15, stepping 1; FPU PSE TSC MSR PAE CX8 APIC CMOV. */
#define CPU_SIGNATURE ((6U << 8) | (15U << 4) | 1U)
#define CPU_FEATURES                                                             \
	((1U << 0) | (1U << 3) | (1U << 4) | (1U << 5) | (1U << 6) | (1U << 8) | \
	 (1U << 9) | (1U << 15))
#define NR_BUSES 2
#define NR_LOCAL_INTS 2
/* INTA of PCI slots 1..31 (slot 0 is the host bridge, which has none). */
#define NR_PCI_INTS (MPTABLE_PCI_SLOTS - 1)
#define MPTABLE_MAX_SIZE                                                 \
	(sizeof(struct mpf_intel) + sizeof(struct mpc_header) +          \
	 MPTABLE_MAX_CPUS * sizeof(struct mpc_processor) +               \
	 NR_BUSES * sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) + \
	 (MPTABLE_ISA_IRQS + NR_PCI_INTS + NR_LOCAL_INTS) *              \
		 sizeof(struct mpc_interrupt))

size_t mptable_size(int nr_cpus)
{
	if (nr_cpus < 0)
		nr_cpus = 0;
	return sizeof(struct mpf_intel) + sizeof(struct mpc_header) +
	       (size_t)nr_cpus * sizeof(struct mpc_processor) +
	       NR_BUSES * sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       (MPTABLE_ISA_IRQS + NR_PCI_INTS + NR_LOCAL_INTS) *
		       sizeof(struct mpc_interrupt);
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)(0x100 - sum);
}

static void pad_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, len < n ? len : n);
}

/* Appends @len bytes of @entry at @*pos in @buf. */
static void put(uint8_t *buf, size_t *pos, const void *entry, size_t len)
{
	memcpy(buf + *pos, entry, len);
	*pos += len;
}

static size_t build_entries(uint8_t *buf, size_t pos, int nr_cpus, uint8_t ioapic_id)
{
	static const char *const bus_names[NR_BUSES] = { "PCI   ", "ISA   " };
	struct mpc_ioapic io = { .type = MP_ENTRY_IOAPIC,
				 .apic_id = ioapic_id,
				 .version = MPTABLE_IOAPIC_VERSION,
				 .flags = IOAPIC_FLAG_EN,
				 .addr = (uint32_t)X86_IOAPIC_ADDR };

	for (int i = 0; i < nr_cpus; i++) {
		struct mpc_processor p = { .type = MP_ENTRY_PROCESSOR,
					   .apic_id = (uint8_t)i,
					   .apic_version = MPTABLE_LAPIC_VERSION,
					   .cpu_flags =
						   CPU_FLAG_EN | (i ? 0 : CPU_FLAG_BP),
					   .signature = CPU_SIGNATURE,
					   .features = CPU_FEATURES };

		put(buf, &pos, &p, sizeof(p));
	}
	for (int i = 0; i < NR_BUSES; i++) {
		struct mpc_bus b = { .type = MP_ENTRY_BUS, .bus_id = (uint8_t)i };

		memcpy(b.bus_type, bus_names[i], sizeof(b.bus_type));
		put(buf, &pos, &b, sizeof(b));
	}
	put(buf, &pos, &io, sizeof(io));
	/* KVM's default GSI routing sends ISA IRQ n to IOAPIC pin n. */
	for (int irq = 0; irq < MPTABLE_ISA_IRQS; irq++) {
		struct mpc_interrupt in = { .type = MP_ENTRY_IO_INTERRUPT,
					    .irq_type = MP_IRQ_INT,
					    .src_bus = MPTABLE_BUS_ISA,
					    .src_irq = (uint8_t)irq,
					    .dst_apic = ioapic_id,
					    .dst_pin = (uint8_t)irq };

		put(buf, &pos, &in, sizeof(in));
	}
	/*
	 * PCI INTx: source IRQ is (slot << 2) | pin (0 = INTA); flags 0 means
	 * "conforms to the bus", level-triggered active-low for PCI. The
	 * routing is X86_PCI_INTX_GSI, which virtio-pci uses too.
	 */
	for (int slot = 1; slot < MPTABLE_PCI_SLOTS; slot++) {
		struct mpc_interrupt in = { .type = MP_ENTRY_IO_INTERRUPT,
					    .irq_type = MP_IRQ_INT,
					    .src_bus = MPTABLE_BUS_PCI,
					    .src_irq = (uint8_t)(slot << 2),
					    .dst_apic = ioapic_id,
					    .dst_pin = (uint8_t)X86_PCI_INTX_GSI(slot) };

		put(buf, &pos, &in, sizeof(in));
	}
	for (int lint = 0; lint < NR_LOCAL_INTS; lint++) {
		struct mpc_interrupt l = { .type = MP_ENTRY_LOCAL_INTERRUPT,
					   .irq_type = lint ? MP_IRQ_NMI : MP_IRQ_EXTINT,
					   .src_bus = MPTABLE_BUS_ISA,
					   .src_irq = 0,
					   .dst_apic = LAPIC_ALL,
					   .dst_pin = (uint8_t)lint };

		put(buf, &pos, &l, sizeof(l));
	}
	return pos;
}

int mptable_write(struct guest_mem *mem, uint64_t addr, int nr_cpus, struct kb_err *err)
{
	uint8_t buf[MPTABLE_MAX_SIZE];
	struct mpf_intel mpf;
	struct mpc_header hdr;
	size_t size, end;

	if (nr_cpus < 1 || nr_cpus > MPTABLE_MAX_CPUS)
		return kb_err_set(
			err, -EINVAL,
			"MP table: %d CPUs is out of range 1..%d (APIC ids 0..%d, the IOAPIC takes the next id)",
			nr_cpus, MPTABLE_MAX_CPUS, MPTABLE_MAX_CPUS - 1);
	size = mptable_size(nr_cpus);
	if (addr & 15)
		return kb_err_set(err, -EINVAL,
				  "MP table: address 0x%llx is not 16-byte aligned",
				  (unsigned long long)addr);
	if (addr >= X86_BIOS_END || size > X86_BIOS_END - addr)
		return kb_err_set(err, -EINVAL,
				  "MP table: %zu bytes at 0x%llx do not fit below 1 MiB",
				  size, (unsigned long long)addr);
	if (!guest_mem_ptr(mem, addr, size))
		return kb_err_set(
			err, -EFAULT, "MP table: [0x%llx, 0x%llx) is not guest RAM",
			(unsigned long long)addr, (unsigned long long)(addr + size));

	memset(buf, 0, sizeof(buf));
	end = build_entries(buf, sizeof(mpf) + sizeof(hdr), nr_cpus, (uint8_t)nr_cpus);
	assert(end == size);

	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.signature, "PCMP", 4);
	hdr.length = (uint16_t)(size - sizeof(mpf));
	hdr.spec_rev = MP_SPEC_REV;
	pad_copy(hdr.oem_id, sizeof(hdr.oem_id), MPTABLE_OEM_ID);
	pad_copy(hdr.product_id, sizeof(hdr.product_id), MPTABLE_OEM_ID);
	hdr.entry_count = (uint16_t)(nr_cpus + NR_BUSES + 1 + MPTABLE_ISA_IRQS +
				     NR_PCI_INTS + NR_LOCAL_INTS);
	hdr.lapic_addr = (uint32_t)X86_LAPIC_ADDR;
	memcpy(buf + sizeof(mpf), &hdr, sizeof(hdr));
	buf[sizeof(mpf) + offsetof(struct mpc_header, checksum)] =
		checksum(buf + sizeof(mpf), hdr.length);

	memset(&mpf, 0, sizeof(mpf));
	memcpy(mpf.signature, "_MP_", 4);
	mpf.physptr = (uint32_t)(addr + sizeof(mpf));
	mpf.length = 1;
	mpf.spec_rev = MP_SPEC_REV;
	memcpy(buf, &mpf, sizeof(mpf));
	buf[offsetof(struct mpf_intel, checksum)] = checksum(buf, sizeof(mpf));

	if (guest_mem_write(mem, addr, buf, size))
		return kb_err_set(err, -EFAULT, "MP table: 0x%llx is not guest RAM",
				  (unsigned long long)addr);
	return 0;
}

static int check_entry(const uint8_t *e, size_t left, struct mptable_info *info,
		       uint8_t *last_type, size_t *len, struct kb_err *err)
{
	struct mpc_processor p;
	struct mpc_ioapic io;
	struct mpc_interrupt in;

	if (e[0] < *last_type)
		return kb_err_set(err, -EINVAL, "MP table: entry type %u after type %u",
				  e[0], *last_type);
	*last_type = e[0];
	*len = e[0] == MP_ENTRY_PROCESSOR ? sizeof(p) : 8;
	if (e[0] > MP_ENTRY_LOCAL_INTERRUPT)
		return kb_err_set(err, -EINVAL, "MP table: unknown entry type %u", e[0]);
	if (*len > left)
		return kb_err_set(err, -EINVAL,
				  "MP table: entry type %u runs past the table", e[0]);
	switch (e[0]) {
	case MP_ENTRY_PROCESSOR:
		memcpy(&p, e, sizeof(p));
		info->nr_processors++;
		if (p.cpu_flags & CPU_FLAG_BP) {
			info->nr_bsp++;
			info->bsp_apic_id = p.apic_id;
		}
		break;
	case MP_ENTRY_BUS:
		info->nr_buses++;
		break;
	case MP_ENTRY_IOAPIC:
		memcpy(&io, e, sizeof(io));
		info->nr_ioapics++;
		info->ioapic_id = io.apic_id;
		info->ioapic_addr = io.addr;
		break;
	case MP_ENTRY_IO_INTERRUPT:
		memcpy(&in, e, sizeof(in));
		info->nr_io_interrupts++;
		if (in.src_bus == MPTABLE_BUS_ISA && in.src_irq < MPTABLE_ISA_IRQS)
			info->io_irq_pin[in.src_irq] = in.dst_pin;
		if (in.src_bus == MPTABLE_BUS_PCI && (in.src_irq & 3) == 0)
			info->pci_inta_pin[in.src_irq >> 2] = in.dst_pin;
		break;
	default:
		info->nr_local_interrupts++;
		break;
	}
	return 0;
}

int mptable_check(const struct guest_mem *mem, uint64_t addr, struct mptable_info *info,
		  struct kb_err *err)
{
	const uint8_t *fp = guest_mem_ptr(mem, addr, sizeof(struct mpf_intel));
	const uint8_t *tab;
	struct mpf_intel mpf;
	struct mpc_header hdr;
	uint8_t last_type = 0;
	size_t pos;
	int ret;

	memset(info, 0, sizeof(*info));
	info->bsp_apic_id = -1;
	info->ioapic_id = -1;
	for (int i = 0; i < MPTABLE_ISA_IRQS; i++)
		info->io_irq_pin[i] = -1;
	for (int i = 0; i < MPTABLE_PCI_SLOTS; i++)
		info->pci_inta_pin[i] = -1;
	if (!fp)
		return kb_err_set(err, -EINVAL, "MP table: 0x%llx is not guest RAM",
				  (unsigned long long)addr);
	memcpy(&mpf, fp, sizeof(mpf));
	if (memcmp(mpf.signature, "_MP_", 4) || mpf.length != 1)
		return kb_err_set(err, -EINVAL, "MP table: no \"_MP_\" floating pointer");
	if (checksum(fp, sizeof(mpf)))
		return kb_err_set(err, -EINVAL,
				  "MP table: floating pointer checksum is wrong");
	tab = guest_mem_ptr(mem, mpf.physptr, sizeof(hdr));
	if (!tab)
		return kb_err_set(err, -EINVAL, "MP table: physptr 0x%x is not guest RAM",
				  mpf.physptr);
	memcpy(&hdr, tab, sizeof(hdr));
	if (memcmp(hdr.signature, "PCMP", 4) || hdr.length < sizeof(hdr) ||
	    !guest_mem_ptr(mem, mpf.physptr, hdr.length))
		return kb_err_set(err, -EINVAL,
				  "MP table: bad \"PCMP\" configuration header");
	if (checksum(tab, hdr.length))
		return kb_err_set(err, -EINVAL,
				  "MP table: configuration table checksum is wrong");
	info->config_addr = mpf.physptr;
	info->entry_count = hdr.entry_count;
	info->lapic_addr = hdr.lapic_addr;

	pos = sizeof(hdr);
	for (int i = 0; i < hdr.entry_count; i++) {
		size_t len = 0;

		if (pos >= hdr.length)
			return kb_err_set(
				err, -EINVAL,
				"MP table: entry_count %u, but only %d entries fit",
				hdr.entry_count, i);
		ret = check_entry(tab + pos, hdr.length - pos, info, &last_type, &len,
				  err);
		if (ret)
			return ret;
		pos += len;
	}
	if (pos != hdr.length)
		return kb_err_set(err, -EINVAL,
				  "MP table: %zu bytes of entries, the header says %u",
				  pos, hdr.length);
	return 0;
}
