// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/boot/boot.h"
#include "arch/x86/boot/pagetables.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "util/clock.h"
#include "util/log.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

void vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

int vcpu_create(struct vm *vm, struct vcpu *v, int id, struct kb_err *err)
{
	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		return kb_err_set(err, -errno, "KVM_CREATE_VCPU %d: %s", id,
				  strerror(errno));
	v->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
		      0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return kb_err_set(err, -errno, "mmap of vCPU %d's kvm_run: %s", id,
				  strerror(errno));
	}
	if (vm->cpuid) {
		struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(vm->cpuid, id, vm->nr_vcpus);
		int ret = 0;

		if (!c)
			return kb_err_set(err, -ENOMEM, "out of memory");
		if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
			ret = kb_err_set(err, -errno, "KVM_SET_CPUID2 on vCPU %d: %s", id,
					 strerror(errno));
		free(c);
		if (ret)
			return ret;
	}
	if (vm->irqchip) {
		int ret = x86_lapic_init(v->fd, err);

		if (ret)
			return ret;
	}
	return x86_msrs_init(v->fd, err);
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->vm->vcpu_mmap_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

int vcpu_setup_long_mode(struct vcpu *v, uint64_t rip, uint64_t rsi, struct kb_err *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return kb_err_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	x86_boot_segments(&sregs.cs, &sregs.ds);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = X86_GDT_ADDR;
	sregs.gdt.limit = X86_BOOT_GDT_LIMIT;
	sregs.cr0 = X86_BOOT_CR0;
	sregs.cr3 = X86_PML4_ADDR;
	sregs.cr4 = X86_BOOT_CR4;
	sregs.efer = X86_BOOT_EFER;
	/* No IDT until the guest loads one: a fault before that is a triple fault. */
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return kb_err_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rsi = rsi;
	regs.rflags = 2;
	regs.rsp = X86_BOOT_STACK;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return kb_err_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

int vcpu_setup_user_mode(struct vcpu *v, uint64_t rip, uint64_t rsp, struct kb_err *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret;

	/* Control registers, GDT and no IDT as for long mode... */
	ret = vcpu_setup_long_mode(v, rip, 0, err);
	if (ret)
		return ret;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return kb_err_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	/* ...then the DPL 3 segments: CPL is CS's RPL, SS must match it. */
	x86_user_segments(&sregs.cs, &sregs.ds);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return kb_err_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return kb_err_set(err, -errno, "KVM_GET_REGS: %s", strerror(errno));
	regs.rflags = X86_USER_RFLAGS;
	regs.rsp = rsp;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return kb_err_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

int vcpu_setup_real_mode(struct vcpu *v, uint64_t rip, struct kb_err *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return kb_err_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	/* Flat real mode: all segments at 0, code addressed by IP alone. */
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.fs.type = sregs.gs.type = 3;
	sregs.ss.type = 3;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return kb_err_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 2;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return kb_err_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

static const char *const reg_names[] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8",
	"r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
};

static __u64 *reg_slot(struct kvm_regs *r, const char *name)
{
	__u64 *slots[] = {
		&r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi,
		&r->rsp, &r->rbp, &r->r8,  &r->r9,  &r->r10, &r->r11,
		&r->r12, &r->r13, &r->r14, &r->r15, &r->rip, &r->rflags,
	};

	for (size_t i = 0; i < sizeof(reg_names) / sizeof(reg_names[0]); i++)
		if (!strcmp(name, reg_names[i]))
			return slots[i];
	return NULL;
}

bool vcpu_reg_name_valid(const char *name)
{
	for (size_t i = 0; i < sizeof(reg_names) / sizeof(reg_names[0]); i++)
		if (!strcmp(name, reg_names[i]))
			return true;
	return false;
}

int vcpu_set_reg(struct vcpu *v, const char *name, uint64_t value, struct kb_err *err)
{
	struct kvm_regs regs;
	__u64 *slot;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return kb_err_set(err, -errno, "KVM_GET_REGS: %s", strerror(errno));
	slot = reg_slot(&regs, name);
	if (!slot)
		return kb_err_set(err, -EINVAL, "--reg: unknown register '%s'", name);
	*slot = value;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return kb_err_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

int vcpu_fetch_code(struct vcpu *v, uint8_t *buf, size_t len)
{
	struct kvm_translation tr;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t gpa, room;
	void *p;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	memset(&tr, 0, sizeof(tr));
	tr.linear_address = sregs.cs.base + regs.rip;
	if (!(sregs.cr0 & 1))
		tr.linear_address &= 0xfffff;
	if (ioctl(v->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return -EFAULT;
	gpa = tr.physical_address;
	/* Do not cross into the next page: it may map elsewhere. */
	room = 0x1000 - (gpa & 0xfff);
	if (len > room)
		len = room;
	p = guest_mem_ptr(&v->vm->mem, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return (int)len;
}

static void dump_seg(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr,
		"  %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u l=%u db=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		s->present, s->l, s->db);
}

void vcpu_dump(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	uint8_t code[16];
	int n;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "\rkvmbox: vCPU %d: cannot read registers: %s\n", v->id,
			strerror(errno));
		return;
	}
	fprintf(stderr, "\rkvmbox: vCPU %d registers:\n", v->id);
	fprintf(stderr, "  rip=%016llx rflags=%016llx\n", r.rip, r.rflags);
	fprintf(stderr, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", r.rax,
		r.rbx, r.rcx, r.rdx);
	fprintf(stderr, "  rsi=%016llx rdi=%016llx rsp=%016llx rbp=%016llx\n", r.rsi,
		r.rdi, r.rsp, r.rbp);
	fprintf(stderr, "  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n", r.r8, r.r9,
		r.r10, r.r11);
	fprintf(stderr, "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n", r.r12,
		r.r13, r.r14, r.r15);
	fprintf(stderr, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_seg("cs", &s.cs);
	dump_seg("ds", &s.ds);
	dump_seg("ss", &s.ss);
	dump_seg("tr", &s.tr);
	fprintf(stderr, "  gdt=%016llx/%04x idt=%016llx/%04x\n", s.gdt.base, s.gdt.limit,
		s.idt.base, s.idt.limit);
	n = vcpu_fetch_code(v, code, sizeof(code));
	if (n > 0) {
		fprintf(stderr, "  code at rip:");
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %02x", code[i]);
		fprintf(stderr, "\n");
	} else {
		fprintf(stderr, "  code at rip: not in guest RAM (%s)\n", strerror(-n));
	}
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	/* KVM hands us a page: size * count is bounded by it. */
	for (uint32_t i = 0; i < run->io.count; i++) {
		if (!bus_access(&v->vm->pio, run->io.port, data, run->io.size, out))
			log_debug("vCPU %d: %s port %#x (%u bytes): no device", v->id,
				  out ? "write to" : "read from", run->io.port,
				  run->io.size);
		data += run->io.size;
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len > 8 ? 8 : run->mmio.len;

	if (!bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			run->mmio.is_write))
		log_debug("vCPU %d: MMIO %s %#llx: no device", v->id,
			  run->mmio.is_write ? "write" : "read",
			  (unsigned long long)run->mmio.phys_addr);
}

static void crash(struct vcpu *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* An abnormal stop: say why, dump state, stop the VM with the crash status. */
static void crash(struct vcpu *v, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (atomic_load(&v->vm->stopping))
		return;
	log_error("vCPU %d: %s", v->id, msg);
	vcpu_dump(v);
	vm_request_stop(v->vm, VM_STOP_CRASH, EXIT_GUEST_CRASH);
}

static void handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t code[16];
	struct emul_insn insn;
	char bytes[64] = "";
	int n;

	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION) {
		char data[256] = "";
		size_t off = 0;

		for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
			off += snprintf(data + off, sizeof(data) - off, " %#llx",
					(unsigned long long)run->internal.data[i]);
		crash(v, "KVM internal error, suberror %u, data:%s",
		      run->internal.suberror, data);
		return;
	}
	n = vcpu_fetch_code(v, code, sizeof(code));
	if (n <= 0) {
		crash(v,
		      "KVM could not emulate an instruction, and its bytes are not in guest RAM");
		return;
	}
	if (v->vm->pvm && x86_emulate_fallback(v->fd, code, n, &insn) == EMUL_HANDLED) {
		log_debug("vCPU %d: %s: %s", v->id, insn.name, insn.action);
		return;
	}
	x86_decode_for_report(code, n, &insn);
	for (int i = 0, off = 0; i < n && i < 15; i++)
		off += snprintf(bytes + off, sizeof(bytes) - off, "%s%02x", i ? " " : "",
				code[i]);
	crash(v, "KVM could not emulate the instruction at RIP (%s): bytes %s",
	      insn.name ? insn.name : "not decoded", bytes);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(v->vm, VM_STOP_POWEROFF, 0);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(v->vm, VM_STOP_REBOOT, 0);
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vm_request_stop(v->vm, VM_STOP_PANIC, EXIT_GUEST_PANIC);
		break;
	default:
		crash(v, "unknown system event %u", v->run->system_event.type);
	}
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_HLT:
		/* Only without the in-kernel LAPIC: a raw program is done. */
		vm_request_stop(v->vm, VM_STOP_HALT, 0);
		return false;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		crash(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(v);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		crash(v, "VM entry failed, hardware_entry_failure_reason %#llx",
		      (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		handle_internal_error(v);
		return !atomic_load(&v->vm->stopping);
	default:
		crash(v, "unexpected exit reason %u", run->exit_reason);
		return false;
	}
}

/*
 * Paused (kvmbox pause, or a debug request): wait outside KVM_RUN until
 * released or the VM stops. vm_pause() counts the parked vCPUs.
 */
static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

const char *vcpu_exit_reason_name(unsigned int reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "unknown",
		[KVM_EXIT_EXCEPTION] = "exception",
		[KVM_EXIT_IO] = "io",
		[KVM_EXIT_HYPERCALL] = "hypercall",
		[KVM_EXIT_DEBUG] = "debug",
		[KVM_EXIT_HLT] = "hlt",
		[KVM_EXIT_MMIO] = "mmio",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
		[KVM_EXIT_SHUTDOWN] = "shutdown",
		[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
		[KVM_EXIT_INTR] = "intr",
		[KVM_EXIT_SET_TPR] = "set_tpr",
		[KVM_EXIT_TPR_ACCESS] = "tpr_access",
		[KVM_EXIT_NMI] = "nmi",
		[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
		[KVM_EXIT_SYSTEM_EVENT] = "system_event",
		[KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
		[KVM_EXIT_X86_RDMSR] = "x86_rdmsr",
		[KVM_EXIT_X86_WRMSR] = "x86_wrmsr",
	};

	if (reason == VCPU_NR_EXIT_REASONS - 1)
		return "other";
	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return NULL;
}

uint64_t vcpu_run_ns(struct vcpu *v)
{
	uint64_t done = atomic_load_explicit(&v->run_ns, memory_order_relaxed);
	uint64_t since = atomic_load_explicit(&v->run_since, memory_order_relaxed);
	uint64_t now;

	if (!since)
		return done;
	now = clock_mono_ns();
	return done + (now > since ? now - since : 0);
}

/*
 * The counters have one writer, the vCPU thread: a relaxed load and store
 * is enough (no locked read-modify-write on the exit path), readers see
 * whole values.
 */
static inline void counter_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%d", v->id);
	pthread_setname_np(pthread_self(), name);
	/* For bench/: when the first KVM_RUN happens, on CLOCK_MONOTONIC. */
	if (v->id == 0 && getenv("KVMBOX_TRACE_FIRST_RUN")) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		fprintf(stderr, "kvmbox: first KVM_RUN at %lld ns\n",
			(long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	}
	while (!atomic_load(&v->vm->stopping)) {
		uint64_t t0;
		int ret;

		if (atomic_load(&v->vm->pause_req)) {
			vcpu_park(v);
			continue;
		}
		t0 = clock_mono_ns();
		atomic_store_explicit(&v->run_since, t0, memory_order_relaxed);
		ret = ioctl(v->fd, KVM_RUN, 0);
		counter_add(&v->run_ns, clock_mono_ns() - t0);
		atomic_store_explicit(&v->run_since, 0, memory_order_relaxed);
		if (ret < 0) {
			/* EINTR: kicked; EAGAIN: an AP got INIT and waits for SIPI. */
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			log_error("vCPU %d: KVM_RUN: %s", v->id, strerror(errno));
			vm_request_stop(v->vm, VM_STOP_ERROR, 1);
			break;
		}
		counter_add(&v->exit_reasons[v->run->exit_reason < VCPU_NR_EXIT_REASONS ?
						     v->run->exit_reason :
						     VCPU_NR_EXIT_REASONS - 1],
			    1);
		if (!handle_exit(v))
			break;
	}
	pthread_mutex_lock(&v->vm->pause_lock);
	v->thread_done = true;
	pthread_cond_broadcast(&v->vm->pause_cond);
	pthread_mutex_unlock(&v->vm->pause_lock);
	return NULL;
}

int vcpu_start(struct vcpu *v, struct kb_err *err)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret)
		return kb_err_set(err, -ret, "cannot start vCPU %d thread: %s", v->id,
				  strerror(ret));
	v->thread_started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->thread_started)
		return;
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (v->thread_started)
		pthread_join(v->thread, NULL);
	v->thread_started = false;
}
