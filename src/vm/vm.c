// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/x86/boot/boot.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "util/log.h"
#include "util/term.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "vm/console.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

#define COM1_PORT 0x3f8
#define COM1_GSI 4
#define KBD_GSI 1
#define RTC_GSI 8
#define DEBUG_EXIT_PORT 0x501

const char *vm_stop_reason_str(enum vm_stop_reason r)
{
	switch (r) {
	case VM_RUNNING:
		return "running";
	case VM_STOP_POWEROFF:
		return "guest powered off";
	case VM_STOP_REBOOT:
		return "guest rebooted";
	case VM_STOP_HALT:
		return "guest halted";
	case VM_STOP_DEBUG_EXIT:
		return "guest wrote to the debug-exit port";
	case VM_STOP_PANIC:
		return "guest kernel panicked";
	case VM_STOP_CRASH:
		return "guest crashed";
	case VM_STOP_ERROR:
		return "kvmbox error";
	case VM_STOP_SIGNAL:
		return "stopped by signal";
	case VM_STOP_USER:
		return "stopped from the console (Ctrl-A x)";
	case VM_STOP_FORCED:
		return "stopped by kvmbox stop (forced)";
	}
	return "?";
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_RUNNING) {
		vm->stop_reason = reason;
		vm->stop_status = status;
		atomic_store(&vm->stopping, true);
		if (write(vm->stop_fd, &one, sizeof(one)) < 0)
			log_debug("stop eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

static void set_irq_line(void *ctx, uint32_t gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_debug("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

static struct irq_line vm_irq(struct vm *vm, uint32_t gsi)
{
	struct irq_line l = { vm->irqchip ? set_irq_line : NULL, vm, gsi };

	return l;
}

static void on_reset(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_REBOOT, 0);
}

static void on_debug_exit(void *ctx, int code)
{
	struct vm *vm = ctx;

	if (code == 0)
		vm_request_stop(vm, VM_STOP_POWEROFF, 0);
	else
		vm_request_stop(vm, VM_STOP_DEBUG_EXIT, code);
}

static void on_pvpanic(void *ctx, uint8_t events)
{
	if (events & 1)
		vm_request_stop(ctx, VM_STOP_PANIC, EXIT_GUEST_PANIC);
}

static int kvm_open(struct vm *vm, struct kb_err *err)
{
	int ver;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return kb_err_set(err, -errno,
				  "/dev/kvm: %s (run `kvmbox check` for help)",
				  strerror(errno));
	ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION)
		return kb_err_set(err, -EINVAL, "/dev/kvm: API version %d, expected %d",
				  ver, KVM_API_VERSION);
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run))
		return kb_err_set(err, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %s",
				  strerror(errno));
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return kb_err_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	return 0;
}

static int vm_setup_memory(struct vm *vm, struct kb_err *err)
{
	int ret = guest_mem_alloc(&vm->mem, vm->cfg->ram_size, X86_LOWMEM_MAX);

	if (ret)
		return kb_err_set(err, ret, "cannot map %llu MiB of guest memory: %s",
				  (unsigned long long)(vm->cfg->ram_size >> 20),
				  strerror(-ret));
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		struct guest_mem_region *r = &vm->mem.region[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return kb_err_set(err, -errno, "KVM_SET_USER_MEMORY_REGION: %s",
					  strerror(errno));
	}
	return 0;
}

static int vm_setup_irqchip(struct vm *vm, struct kb_err *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, X86_TSS_ADDR) < 0)
		return kb_err_set(err, -errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t idmap = X86_IDENTITY_MAP_ADDR;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return kb_err_set(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR: %s",
				  strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return kb_err_set(err, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return kb_err_set(err, -errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	vm->irqchip = true;
	return 0;
}

static int vm_add_virtio(struct vm *vm, struct virtio_dev *vdev, struct kb_err *err)
{
	struct virtio_pci_env env;
	struct virtio_pci *vp;

	if (!vdev)
		return err->code ? err->code : -ENOMEM;
	if (vm->nr_virtio == VM_MAX_VIRTIO) {
		vdev->ops->destroy(vdev);
		return kb_err_set(err, -ENOSPC, "too many virtio devices (at most %d)",
				  VM_MAX_VIRTIO);
	}
	vm_virtio_env(vm, &env);
	vp = virtio_pci_create(vdev, vm->pci, &env, err);
	if (!vp)
		return err->code;
	vm->virtio[vm->nr_virtio++] = vp;
	return 0;
}

/* One -n: its backend (tap, user) and the virtio-net device on top. */
static int vm_add_nic(struct vm *vm, const struct net_spec *ns, int index,
		      struct kb_err *err)
{
	struct net_backend *be;
	uint8_t mac[6];

	if (ns->mac_set)
		memcpy(mac, ns->mac, sizeof(mac));
	else
		net_default_mac(vm->cfg->name ? vm->cfg->name : "kvmbox", index, mac);
	be = net_backend_open(ns, &vm->events, err);
	if (!be)
		return err->code ? err->code : -EIO;
	return vm_add_virtio(vm, virtio_net_create(be, mac, &vm->events, err), err);
}

/* Disks first, so that -d order is /dev/vda, vdb... (PCI slot order), then
 * network devices (eth0, eth1...). */
static int vm_setup_virtio(struct vm *vm, struct kb_err *err)
{
	const struct vm_config *cfg = vm->cfg;
	int ret = 0;

	for (int i = 0; !ret && i < cfg->nr_disks; i++) {
		ret = vm_add_virtio(
			vm, virtio_blk_create(&cfg->disks[i], &vm->events, err), err);
		if (ret)
			kb_err_prefix(err, "-d %s", cfg->disks[i].file);
	}
	for (int i = 0; !ret && i < cfg->nr_nics; i++)
		ret = vm_add_nic(vm, &cfg->nics[i], i, err);
	if (!ret && cfg->rng)
		ret = vm_add_virtio(vm, virtio_rng_create(err), err);
	if (!ret && cfg->balloon) {
		struct virtio_dev *b = virtio_balloon_create(cfg->balloon_report, err);

		ret = vm_add_virtio(vm, b, err);
		if (!ret)
			vm->balloon = b;
	}
	if (!ret && cfg->console == CONSOLE_VIRTIO) {
		struct virtio_dev *con =
			virtio_console_create(console_output_virtio, vm, err);

		ret = vm_add_virtio(vm, con, err);
		if (!ret)
			vm->virtio_console = con;
	}
	return ret;
}

static int vm_setup_devices(struct vm *vm, struct kb_err *err)
{
	int ret;

	vm->serial = serial_create(vm_irq(vm, COM1_GSI), console_output_serial, vm);
	vm->debug_exit = debug_exit_create(on_debug_exit, vm);
	if (!vm->serial || !vm->debug_exit)
		return kb_err_set(err, -ENOMEM, "out of memory");
	ret = serial_attach(vm->serial, &vm->pio, COM1_PORT);
	if (!ret)
		ret = debug_exit_attach(vm->debug_exit, &vm->pio, DEBUG_EXIT_PORT);
	if (ret)
		return kb_err_set(err, ret, "cannot attach the serial port: %s",
				  strerror(-ret));

	/*
	 * A raw program gets the PCI bus and the virtio devices asked for, so
	 * that it can drive them itself (bench/blk.py does), but none of the
	 * PC's other devices. With no irqchip it gets no interrupts either:
	 * INTx is a no-op and KVM_SIGNAL_MSI fails (harmlessly); it polls.
	 */
	vm->pci = pci_bus_create(&vm->mmio, X86_PCI_MMIO_BASE, X86_PCI_MMIO_END);
	if (!vm->pci)
		return kb_err_set(err, -ENOMEM, "out of memory");
	if (!vm->cfg->raw) {
		vm->i8042 = i8042_create(vm_irq(vm, KBD_GSI), on_reset, vm);
		vm->rtc = rtc_create(vm_irq(vm, RTC_GSI));
		vm->pvpanic = pvpanic_create(on_pvpanic, vm);
		if (!vm->i8042 || !vm->rtc || !vm->pvpanic)
			return kb_err_set(err, -ENOMEM, "out of memory");
		ret = i8042_attach(vm->i8042, &vm->pio);
		if (!ret)
			ret = rtc_attach(vm->rtc, &vm->pio);
	}
	if (!ret)
		ret = pci_bus_attach(vm->pci, &vm->pio);
	if (ret)
		return kb_err_set(err, ret, "cannot attach legacy devices: %s",
				  strerror(-ret));
	if (!vm->cfg->raw) {
		ret = pvpanic_attach(vm->pvpanic, vm->pci, err);
		if (ret)
			return ret;
	}
	return vm_setup_virtio(vm, err);
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct kb_err *err)
{
	struct host_kvm_info host;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	/* Every fd starts at -1 so that vm_destroy() after a failure is safe. */
	vm->kvm_fd = vm->vm_fd = vm->stop_fd = -1;
	vm->events.epfd = vm->events.wake_fd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	bus_init(&vm->pio);
	bus_init(&vm->mmio);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return kb_err_set(err, -errno, "eventfd: %s", strerror(errno));
	ret = event_loop_init(&vm->events);
	if (ret)
		return kb_err_set(err, ret, "event loop: %s", strerror(-ret));
	x86_host_kvm_probe(&host);
	vm->pvm = host.pvm || !host.hw_virt;

	ret = kvm_open(vm, err);
	if (ret)
		return ret;
	ret = vm_setup_memory(vm, err);
	if (ret)
		return ret;
	/* A raw program gets no irqchip, so that its hlt exits to us. */
	if (!cfg->raw) {
		ret = vm_setup_irqchip(vm, err);
		if (ret)
			return ret;
		vm->cpuid = x86_cpuid_get_supported(vm->kvm_fd, err);
		if (!vm->cpuid)
			return err->code;
	}
	ret = vm_setup_devices(vm, err);
	if (ret)
		return ret;

	vm->nr_vcpus = cfg->nr_cpus;
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return kb_err_set(err, -ENOMEM, "out of memory");
	for (int i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_create(vm, &vm->vcpus[i], i, err);
		if (ret)
			return ret;
	}
	return 0;
}

int vm_build_cmdline(const struct vm *vm, char *buf, size_t len, struct kb_err *err)
{
	const char *user = vm->cfg->cmdline ? vm->cfg->cmdline : "";
	int n;

	/*
	 * kvmbox's defaults first so that the user's options, which come
	 * later, win. panic=-1 makes a panicking guest reset at once, which
	 * kvmbox reports as a panic (see docs/usage.md).
	 */
	n = snprintf(buf, len, "console=%s reboot=k panic=-1 i8042.noaux%s%s%s%s",
		     vm->cfg->console == CONSOLE_VIRTIO ? "hvc0" : "ttyS0",
		     vm->pvm && vm->cfg->host_quirks ? " " : "",
		     vm->pvm && vm->cfg->host_quirks ? x86_pvm_guest_cmdline() : "",
		     *user ? " " : "", user);
	if (n < 0 || (size_t)n >= len)
		return kb_err_set(err, -E2BIG, "kernel command line too long (%d bytes)",
				  n);
	return 0;
}

static int load_raw(struct vm *vm, struct kb_err *err)
{
	const struct vm_config *cfg = vm->cfg;
	struct vcpu *bsp = &vm->vcpus[0];
	uint8_t *dst;
	ssize_t n;
	off_t size;
	int fd, ret = 0;

	fd = open(cfg->raw, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kb_err_set(err, -errno, "%s: %s", cfg->raw, strerror(errno));
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0) {
		ret = kb_err_set(err, -EINVAL, "%s: %s", cfg->raw,
				 size == 0 ? "file is empty" : strerror(errno));
		goto out;
	}
	if (cfg->raw_mode != RAW_MODE_REAL && cfg->raw_addr < X86_PD_ADDR + 4 * 0x1000 &&
	    cfg->raw_addr + size > X86_GDT_ADDR) {
		ret = kb_err_set(err, -EINVAL,
				 "%s: loaded at %#llx it would overlap the page tables "
				 "(%#llx-%#llx); use --raw-addr",
				 cfg->raw, (unsigned long long)cfg->raw_addr,
				 X86_GDT_ADDR, X86_PD_ADDR + 4 * 0x1000);
		goto out;
	}
	if (cfg->raw_mode == RAW_MODE_REAL && cfg->raw_addr + size > 0x100000) {
		ret = kb_err_set(err, -EINVAL, "%s: real mode code must lie below 1 MiB",
				 cfg->raw);
		goto out;
	}
	dst = guest_mem_ptr(&vm->mem, cfg->raw_addr, size);
	if (!dst) {
		ret = kb_err_set(
			err, -EINVAL, "%s: %lld bytes at %#llx do not fit in guest RAM",
			cfg->raw, (long long)size, (unsigned long long)cfg->raw_addr);
		goto out;
	}
	n = pread(fd, dst, size, 0);
	if (n != size) {
		ret = kb_err_set(err, -EIO, "%s: short read", cfg->raw);
		goto out;
	}
	if (cfg->raw_mode == RAW_MODE_REAL) {
		ret = vcpu_setup_real_mode(bsp, cfg->raw_addr, err);
	} else {
		ret = x86_write_boot_gdt_and_pagetables(&vm->mem, err);
		if (!ret && cfg->raw_mode == RAW_MODE_LONG)
			ret = vcpu_setup_long_mode(bsp, cfg->raw_addr, 0, err);
		/* User mode: the stack grows down from the top of low RAM. */
		if (!ret && cfg->raw_mode == RAW_MODE_USER)
			ret = vcpu_setup_user_mode(bsp, cfg->raw_addr,
						   guest_mem_region_end(&vm->mem, 0),
						   err);
	}
	for (int i = 0; !ret && i < cfg->nr_regs; i++)
		ret = vcpu_set_reg(bsp, cfg->regs[i].name, cfg->regs[i].value, err);
out:
	close(fd);
	return ret;
}

static int load_linux(struct vm *vm, struct kb_err *err)
{
	struct linux_boot_config bc = {
		.kernel_path = vm->cfg->kernel,
		.initrd_path = vm->cfg->initrd,
		.nr_cpus = vm->nr_vcpus,
		.host_decompress = vm->cfg->host_decompress,
	};
	struct linux_boot_info info;
	char cmdline[4096];
	int ret;

	ret = vm_build_cmdline(vm, cmdline, sizeof(cmdline), err);
	if (ret)
		return ret;
	bc.cmdline = cmdline;
	ret = x86_linux_load(&vm->mem, &bc, &info, err);
	if (ret)
		return ret;
	log_debug("kernel: %s, entry %#llx", info.how, (unsigned long long)info.entry);
	log_debug("command line: %s", cmdline);
	return vcpu_setup_long_mode(&vm->vcpus[0], info.entry, info.boot_params, err);
}

int vm_load(struct vm *vm, struct kb_err *err)
{
	return vm->cfg->raw ? load_raw(vm, err) : load_linux(vm, err);
}

/* The main thread's loop: console input, signals, stop requests. */
static void vm_wait(struct vm *vm, struct term *term)
{
	int in_fd = term ? term->in_fd : -1; /* -1 after EOF */
	struct pollfd pfd[3];
	sigset_t sigs;
	int sfd;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	pfd[0] = (struct pollfd){ .fd = vm->stop_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = in_fd, .events = POLLIN };
	while (!atomic_load(&vm->stopping)) {
		/*
		 * While the console's input buffer is full, leave stdin unread
		 * (a negative fd: poll ignores it and clears its revents, so
		 * that no stale POLLIN leads to a blocking read below).
		 */
		bool full = in_fd >= 0 && !console_input_room(vm);
		int n;

		pfd[2].fd = full ? -1 : in_fd;
		n = poll(pfd, 3, full ? 10 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			vm_request_stop(vm, VM_STOP_ERROR, 1);
			break;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				vm_request_stop(vm, VM_STOP_SIGNAL,
						128 + (int)si.ssi_signo);
		}
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (console_input(vm, term) <= 0)
				in_fd = -1; /* EOF: the guest keeps running */
		}
	}
	if (sfd >= 0)
		close(sfd);
}

enum vm_stop_reason vm_run(struct vm *vm, struct term *term, int *status)
{
	struct kb_err err = { 0 };
	sigset_t block, old;

	/* Only the main thread takes SIGINT/SIGTERM, through a signalfd. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	vcpu_signals_init();
	if (event_loop_start(&vm->events)) {
		log_error("cannot start the device event loop");
		vm_request_stop(vm, VM_STOP_ERROR, 1);
	}
	for (int i = 0; !atomic_load(&vm->stopping) && i < vm->nr_vcpus; i++) {
		if (vcpu_start(&vm->vcpus[i], &err)) {
			log_error("%s", err.msg);
			vm_request_stop(vm, VM_STOP_ERROR, 1);
			break;
		}
	}
	vm_wait(vm, term);
	vm_pause_release_all(vm);
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	event_loop_stop(&vm->events);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	/* panic=-1 turns a panic into a reset: report it as the panic it was. */
	if (vm->stop_reason == VM_STOP_REBOOT && atomic_load(&vm->guest_panicked)) {
		vm->stop_reason = VM_STOP_PANIC;
		vm->stop_status = EXIT_GUEST_PANIC;
	}
	*status = vm->stop_status;
	return vm->stop_reason;
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	for (int i = 0; i < vm->nr_virtio; i++)
		virtio_pci_destroy(vm->virtio[i]);
	event_loop_destroy(&vm->events);
	if (vm->pvpanic)
		pvpanic_destroy(vm->pvpanic);
	if (vm->pci)
		pci_bus_destroy(vm->pci);
	if (vm->rtc)
		rtc_destroy(vm->rtc);
	if (vm->i8042)
		i8042_destroy(vm->i8042);
	if (vm->debug_exit)
		debug_exit_destroy(vm->debug_exit);
	if (vm->serial)
		serial_destroy(vm->serial);
	free(vm->cpuid);
	if (vm->mem.nr_regions)
		guest_mem_free(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
}

static int vm_signal_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct vm *vm = ctx;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

static int vm_ioeventfd(void *ctx, uint64_t addr, int fd, bool assign)
{
	struct vm *vm = ctx;
	/* Length 0 matches writes of any size (KVM_CAP_IOEVENTFD_ANY_LENGTH). */
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = 0,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		log_debug("KVM_IOEVENTFD %s %#llx: %s", assign ? "assign" : "deassign",
			  (unsigned long long)addr, strerror(errno));
		return -errno;
	}
	return 0;
}

static uint32_t vm_intx_gsi(void *ctx, int slot)
{
	(void)ctx;
	return X86_PCI_INTX_GSI(slot);
}

void vm_virtio_env(struct vm *vm, struct virtio_pci_env *env)
{
	memset(env, 0, sizeof(*env));
	env->mem = &vm->mem;
	env->loop = &vm->events;
	env->intx = vm_irq(vm, 0);
	env->ctx = vm;
	env->intx_gsi = vm_intx_gsi;
	env->signal_msi = vm_signal_msi;
	env->ioeventfd = vm_ioeventfd;
}
