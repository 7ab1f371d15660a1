// SPDX-License-Identifier: GPL-2.0-only
/* Control requests carried out on the VM (control server thread). */
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "control/vm_ops.h"
#include "devices/serial.h"
#include "util/clock.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

#define PAGE_SIZE_4K 4096ULL

void ctl_vm_init(struct ctl_vm *c, const char *name, int nr_cpus, uint64_t ram_size)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->nr_cpus = nr_cpus;
	c->ram_size = ram_size;
	c->start_ms = clock_mono_ms();
}

void ctl_vm_set(struct ctl_vm *c, struct vm *vm)
{
	pthread_mutex_lock(&c->lock);
	c->vm = vm;
	if (vm && c->stop_pending)
		vm_request_stop(vm, VM_STOP_FORCED, 0);
	pthread_mutex_unlock(&c->lock);
}

void ctl_vm_destroy(struct ctl_vm *c)
{
	pthread_mutex_destroy(&c->lock);
}

static void hex(struct json_writer *w, const char *key, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "0x%016" PRIx64, v);
	jw_str(w, key, b);
}

static uint64_t host_rss(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void do_info(struct ctl_vm *c, struct vm *vm, struct json_writer *w)
{
	ctl_reply_begin(w);
	jw_str(w, "name", c->name);
	jw_i64(w, "pid", getpid());
	jw_str(w, "state", !vm ? "starting" : vm_is_paused(vm) ? "paused" : "running");
	jw_i64(w, "vcpus", c->nr_cpus);
	jw_u64(w, "memory", c->ram_size);
	jw_u64(w, "uptime_ms", (uint64_t)(clock_mono_ms() - c->start_ms));
	jw_bool(w, "balloon", vm && vm->balloon);
	ctl_reply_end(w);
}

static void do_stop(struct vm *vm, const struct ctl_request *req, struct json_writer *w)
{
	int ret;

	if (req->force) {
		vm_request_stop(vm, VM_STOP_FORCED, 0);
	} else {
		/* A paused guest cannot act on the keys: let it run again. */
		vm_resume(vm, true);
		ret = vm_send_ctrl_alt_del(vm);
		if (ret == -ENODEV) {
			ctl_reply_error(w, CTL_E_UNSUPPORTED,
					"the guest's keyboard does not listen (no "
					"i8042 keyboard driver?): use force");
			return;
		}
		if (ret) {
			ctl_reply_error(w, CTL_E_FAILED, "keyboard busy: try again");
			return;
		}
	}
	ctl_reply_begin(w);
	jw_str(w, "method", req->force ? "forced" : "ctrl-alt-del");
	ctl_reply_end(w);
}

static void do_pause(struct vm *vm, bool pause, struct json_writer *w)
{
	int ret = 0;

	if (pause) {
		ret = vm_pause(vm, true);
	} else if (!vm_is_paused(vm)) {
		ret = -EALREADY;
	} else {
		vm_resume(vm, true);
	}
	if (ret == -EALREADY) {
		ctl_reply_error(w, CTL_E_STATE, pause ? "already paused" : "not paused");
		return;
	}
	if (ret) {
		ctl_reply_error(w, CTL_E_FAILED, strerror(-ret));
		return;
	}
	ctl_reply_begin(w);
	jw_str(w, "state", pause ? "paused" : "running");
	ctl_reply_end(w);
}

/* The non-zero counts of @counts as "name": count members of @key. */
static void exit_reasons(struct json_writer *w, const char *key, const uint64_t *counts)
{
	jw_obj_begin(w, key);
	for (unsigned int r = 0; r < VCPU_NR_EXIT_REASONS; r++) {
		const char *name = vcpu_exit_reason_name(r);
		char other[16];

		if (!counts[r])
			continue;
		if (!name) {
			snprintf(other, sizeof(other), "reason_%u", r);
			name = other;
		}
		jw_u64(w, name, counts[r]);
	}
	jw_obj_end(w);
}

static void stat_vcpus(struct vm *vm, struct json_writer *w)
{
	uint64_t total[VCPU_NR_EXIT_REASONS] = { 0 };

	jw_arr_begin(w, "vcpus");
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		uint64_t counts[VCPU_NR_EXIT_REASONS], exits = 0;

		/* One snapshot: "exits" is the sum of the reasons shown. */
		for (unsigned int r = 0; r < VCPU_NR_EXIT_REASONS; r++) {
			counts[r] = atomic_load_explicit(&v->exit_reasons[r],
							 memory_order_relaxed);
			total[r] += counts[r];
			exits += counts[r];
		}
		jw_obj_begin(w, NULL);
		jw_i64(w, "id", i);
		jw_u64(w, "exits", exits);
		jw_u64(w, "run_ns", vcpu_run_ns(v));
		exit_reasons(w, "exit_reasons", counts);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	exit_reasons(w, "exit_reasons", total);
}

static void stat_device(struct virtio_dev *d, struct json_writer *w)
{
	jw_obj_begin(w, NULL);
	jw_str(w, "name", d->name);
	if (d->device_id == VIRTIO_ID_BLOCK) {
		struct virtio_blk_stats s;

		virtio_blk_get_stats(d, &s);
		jw_u64(w, "requests", s.requests);
		jw_u64(w, "bytes_read", s.bytes_read);
		jw_u64(w, "bytes_written", s.bytes_written);
		jw_u64(w, "errors", s.errors);
	} else if (d->device_id == VIRTIO_ID_RNG) {
		struct virtio_rng_stats s;

		virtio_rng_get_stats(d, &s);
		jw_u64(w, "requests", s.requests);
		jw_u64(w, "bytes", s.bytes);
		jw_u64(w, "errors", 0);
	} else if (d->device_id == VIRTIO_ID_CONSOLE) {
		struct virtio_console_stats s;

		virtio_console_get_stats(d, &s);
		jw_u64(w, "requests", s.rx_buffers + s.tx_buffers);
		jw_u64(w, "bytes", s.rx_bytes + s.tx_bytes);
		jw_u64(w, "errors", s.rx_dropped);
	} else if (d->device_id == VIRTIO_ID_NET) {
		struct virtio_net_stats s;

		virtio_net_get_stats(d, &s);
		jw_u64(w, "requests", s.rx_frames + s.tx_frames);
		jw_u64(w, "bytes", s.rx_bytes + s.tx_bytes);
		jw_u64(w, "errors", s.rx_errors + s.tx_errors);
		jw_u64(w, "rx_frames", s.rx_frames);
		jw_u64(w, "rx_bytes", s.rx_bytes);
		jw_u64(w, "rx_dropped", s.rx_dropped);
		jw_u64(w, "tx_frames", s.tx_frames);
		jw_u64(w, "tx_bytes", s.tx_bytes);
		jw_u64(w, "tx_dropped", s.tx_dropped);
	} else if (d->device_id == VIRTIO_ID_BALLOON) {
		struct virtio_balloon_info b;

		virtio_balloon_get_info(d, &b);
		jw_u64(w, "requests", b.inflated_pages + b.deflated_pages);
		jw_u64(w, "bytes", (b.inflated_pages + b.deflated_pages) * PAGE_SIZE_4K);
		jw_u64(w, "errors", b.bad_pfns);
	}
	jw_obj_end(w);
}

static void stat_balloon(struct vm *vm, struct json_writer *w)
{
	struct virtio_balloon_info b;

	if (!vm->balloon) {
		jw_null(w, "balloon");
		return;
	}
	virtio_balloon_get_info(vm->balloon, &b);
	virtio_balloon_request_stats(vm->balloon); /* fresh ones for next time */
	jw_obj_begin(w, "balloon");
	jw_u64(w, "target_bytes", b.target_pages * PAGE_SIZE_4K);
	jw_u64(w, "actual_bytes", b.actual_pages * PAGE_SIZE_4K);
	jw_u64(w, "inflated_pages", b.inflated_pages);
	jw_u64(w, "deflated_pages", b.deflated_pages);
	jw_u64(w, "reported_bytes", b.reported_bytes);
	jw_u64(w, "bad_pfns", b.bad_pfns);
	jw_u64(w, "stats_updates", b.stats_updates);
	jw_obj_begin(w, "guest");
	for (unsigned int i = 0; b.guest_stats_valid && i < VIRTIO_BALLOON_NR_GUEST_STATS;
	     i++)
		if (b.guest_stat_present[i])
			jw_u64(w, virtio_balloon_stat_name(i), b.guest_stats[i]);
	jw_obj_end(w);
	jw_obj_end(w);
}

static void do_stat(struct ctl_vm *c, struct vm *vm, struct json_writer *w)
{
	ctl_reply_begin(w);
	jw_str(w, "name", c->name);
	jw_str(w, "state", vm_is_paused(vm) ? "paused" : "running");
	jw_u64(w, "uptime_ms", (uint64_t)(clock_mono_ms() - c->start_ms));
	stat_vcpus(vm, w);
	jw_arr_begin(w, "devices");
	for (int i = 0; i < vm->nr_virtio; i++)
		stat_device(virtio_pci_vdev(vm->virtio[i]), w);
	jw_arr_end(w);
	jw_obj_begin(w, "memory");
	jw_u64(w, "guest_bytes", vm->cfg->ram_size);
	jw_u64(w, "host_rss_bytes", host_rss());
	jw_obj_end(w);
	stat_balloon(vm, w);
	ctl_reply_end(w);
}

static void do_balloon(struct vm *vm, const struct ctl_request *req,
		       struct json_writer *w)
{
	uint64_t ram = vm->cfg->ram_size;

	if (!vm->balloon) {
		ctl_reply_error(w, CTL_E_UNSUPPORTED,
				"no balloon: start the VM with --balloon");
		return;
	}
	if (req->target > ram) {
		ctl_reply_error(w, CTL_E_ARGUMENT,
				"target larger than the guest's memory");
		return;
	}
	/* The target is the memory the guest keeps; the balloon holds the rest. */
	virtio_balloon_set_target(vm->balloon, (ram - req->target) / PAGE_SIZE_4K);
	ctl_reply_begin(w);
	jw_u64(w, "target", req->target);
	jw_u64(w, "balloon_bytes", (ram - req->target) & ~(PAGE_SIZE_4K - 1));
	ctl_reply_end(w);
}

static void seg(struct json_writer *w, const char *key, const struct kvm_segment *s)
{
	jw_obj_begin(w, key);
	jw_u64(w, "selector", s->selector);
	hex(w, "base", s->base);
	jw_u64(w, "limit", s->limit);
	jw_u64(w, "type", s->type);
	jw_u64(w, "dpl", s->dpl);
	jw_u64(w, "l", s->l);
	jw_obj_end(w);
}

static void write_regs(struct vcpu *v, const struct kvm_regs *r,
		       const struct kvm_sregs *s, struct json_writer *w)
{
	const struct {
		const char *n;
		uint64_t v;
	} g[] = {
		{ "rip", r->rip }, { "rflags", r->rflags }, { "rax", r->rax },
		{ "rbx", r->rbx }, { "rcx", r->rcx },	    { "rdx", r->rdx },
		{ "rsi", r->rsi }, { "rdi", r->rdi },	    { "rsp", r->rsp },
		{ "rbp", r->rbp }, { "r8", r->r8 },	    { "r9", r->r9 },
		{ "r10", r->r10 }, { "r11", r->r11 },	    { "r12", r->r12 },
		{ "r13", r->r13 }, { "r14", r->r14 },	    { "r15", r->r15 },
	};
	uint8_t code[16];
	char bytes[64] = "";
	int n;

	ctl_reply_begin(w);
	jw_i64(w, "cpu", v->id);
	jw_obj_begin(w, "regs");
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		hex(w, g[i].n, g[i].v);
	jw_obj_end(w);
	jw_obj_begin(w, "sregs");
	hex(w, "cr0", s->cr0);
	hex(w, "cr2", s->cr2);
	hex(w, "cr3", s->cr3);
	hex(w, "cr4", s->cr4);
	hex(w, "efer", s->efer);
	seg(w, "cs", &s->cs);
	seg(w, "ds", &s->ds);
	seg(w, "ss", &s->ss);
	seg(w, "tr", &s->tr);
	hex(w, "gdt_base", s->gdt.base);
	hex(w, "idt_base", s->idt.base);
	jw_obj_end(w);
	n = vcpu_fetch_code(v, code, sizeof(code));
	for (int i = 0, off = 0; i < n; i++)
		off += snprintf(bytes + off, sizeof(bytes) - off, "%s%02x", i ? " " : "",
				code[i]);
	if (n > 0)
		jw_str(w, "code", bytes);
	else
		jw_null(w, "code");
	ctl_reply_end(w);
}

/* regs and nmi: done with the vCPUs parked, so that the vCPU ioctls do not
 * wait for KVM_RUN to return. */
static void do_vcpu(struct vm *vm, const struct ctl_request *req, struct json_writer *w)
{
	int cpu = req->cpu < 0 ? 0 : req->cpu;
	struct kvm_sregs s;
	struct kvm_regs r;
	struct vcpu *v;
	int ret;

	if (cpu >= vm->nr_vcpus) {
		ctl_reply_error(w, CTL_E_ARGUMENT, "no such vCPU");
		return;
	}
	v = &vm->vcpus[cpu];
	ret = vm_pause(vm, false);
	if (ret) {
		ctl_reply_error(w, CTL_E_FAILED, strerror(-ret));
		return;
	}
	if (req->cmd == CTL_CMD_NMI) {
		ret = ioctl(v->fd, KVM_NMI) < 0 ? -errno : 0;
		if (ret) {
			ctl_reply_error(w, CTL_E_FAILED, strerror(-ret));
		} else {
			ctl_reply_begin(w);
			jw_i64(w, "cpu", cpu);
			ctl_reply_end(w);
		}
	} else if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
		   ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		ctl_reply_error(w, CTL_E_FAILED, strerror(errno));
	} else {
		write_regs(v, &r, &s, w);
	}
	vm_resume(vm, false);
}

static void do_sysrq(struct vm *vm, const struct ctl_request *req, struct json_writer *w)
{
	uint8_t key = (uint8_t)req->key;

	if (serial_rx_space(vm->serial) < 2) {
		ctl_reply_error(w, CTL_E_FAILED, "serial input buffer full: try again");
		return;
	}
	serial_send_break(vm->serial);
	serial_receive(vm->serial, &key, 1);
	ctl_reply_begin(w);
	jw_strn(w, "key", &req->key, 1);
	ctl_reply_end(w);
}

void ctl_vm_handle(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct ctl_vm *c = ctx;
	struct vm *vm;

	pthread_mutex_lock(&c->lock);
	vm = c->vm;
	if (req->cmd == CTL_CMD_INFO) {
		do_info(c, vm, w);
	} else if (!vm && req->cmd == CTL_CMD_STOP) {
		/* Nothing in the guest can be lost yet: stop it as it starts. */
		c->stop_pending = true;
		ctl_reply_begin(w);
		jw_str(w, "method", "forced");
		ctl_reply_end(w);
	} else if (!vm || atomic_load(&vm->stopping)) {
		ctl_reply_error(w, CTL_E_STATE,
				vm ? "the VM is stopping" : "the VM is starting");
	} else {
		switch (req->cmd) {
		case CTL_CMD_STOP:
			do_stop(vm, req, w);
			break;
		case CTL_CMD_PAUSE:
		case CTL_CMD_RESUME:
			do_pause(vm, req->cmd == CTL_CMD_PAUSE, w);
			break;
		case CTL_CMD_STAT:
			do_stat(c, vm, w);
			break;
		case CTL_CMD_BALLOON:
			do_balloon(vm, req, w);
			break;
		case CTL_CMD_REGS:
		case CTL_CMD_NMI:
			do_vcpu(vm, req, w);
			break;
		case CTL_CMD_SYSRQ:
			do_sysrq(vm, req, w);
			break;
		default:
			ctl_reply_error(w, CTL_E_UNKNOWN, "unknown command");
		}
	}
	pthread_mutex_unlock(&c->lock);
}
