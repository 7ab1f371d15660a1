/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VM_VM_H
#define KVMBOX_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "net/backend.h"
#include "util/err.h"
#include "vm/bus.h"
#include "vm/event.h"
#include "vm/memory.h"

struct vcpu;
struct serial;
struct i8042;
struct rtc;
struct pci_bus;
struct debug_exit;
struct pvpanic;
struct kvm_cpuid2;
struct term;
struct virtio_pci;
struct virtio_pci_env;

/* real: 16-bit at CS 0; long: 64-bit CPL 0; user: 64-bit CPL 3, IOPL 3. */
enum raw_mode { RAW_MODE_REAL, RAW_MODE_LONG, RAW_MODE_USER };
enum console_kind { CONSOLE_SERIAL, CONSOLE_VIRTIO };

#define VM_MAX_CPUS 64
#define VM_MAX_REGS 20
#define VM_MAX_VIRTIO 16
#define VM_MAX_DISKS 8
#define VM_MAX_NICS 4

struct reg_setting {
	const char *name;
	uint64_t value;
};

/* Everything `kvmbox run` was asked for; filled by option parsing. */
struct vm_config {
	/* Linux boot */
	const char *kernel;
	const char *initrd;
	const char *cmdline; /* user's part; kvmbox adds console= etc. */
	bool host_decompress;
	bool host_quirks; /* add this host's workarounds when PVM is detected */
	bool reboot_restart; /* --reboot=restart */
	/* raw program */
	const char *raw;
	uint64_t raw_addr;
	enum raw_mode raw_mode;
	struct reg_setting regs[VM_MAX_REGS];
	int nr_regs;
	/* devices */
	struct block_spec disks[VM_MAX_DISKS];
	int nr_disks;
	struct net_spec nics[VM_MAX_NICS]; /* -n, "none" left out */
	int nr_nics;
	bool rng;
	bool balloon; /* --balloon */
	bool balloon_report; /* free page reporting offered (report=on) */
	enum console_kind console;
	/* both */
	const char *name; /* --name; NULL: generated */
	uint64_t ram_size;
	int nr_cpus;
};

/* Why the VM stopped; decides kvmbox's exit status (see docs/usage.md). */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF, /* guest powered off: 0 */
	VM_STOP_REBOOT, /* guest reset: 0, or restart with --reboot=restart */
	VM_STOP_HALT, /* raw program executed hlt: 0 */
	VM_STOP_DEBUG_EXIT, /* write to the debug-exit port: the value written */
	VM_STOP_PANIC, /* guest kernel panicked: 2 */
	VM_STOP_CRASH, /* triple fault, emulation failure, entry failure: 3 */
	VM_STOP_ERROR, /* kvmbox itself failed: 1 */
	VM_STOP_SIGNAL, /* SIGINT/SIGTERM: 128 + signal */
	VM_STOP_USER, /* Ctrl-A x on the console: 0 */
	VM_STOP_FORCED, /* kvmbox stop --force, or its timeout: 0 */
};

#define EXIT_GUEST_PANIC 2
#define EXIT_GUEST_CRASH 3

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	bool pvm; /* emulation-only KVM (kvm_pvm): quirks apply */
	bool irqchip; /* in-kernel LAPIC/IOAPIC/PIC and PIT */

	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct kvm_cpuid2 *cpuid; /* as KVM supports it; per-vCPU copies adjust it */

	struct vcpu *vcpus;
	int nr_vcpus;

	struct serial *serial;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct pci_bus *pci;
	struct debug_exit *debug_exit;
	struct pvpanic *pvpanic;

	/* Device I/O: virtio queue kicks and completions run on this thread. */
	struct event_loop events;
	struct virtio_pci *virtio[VM_MAX_VIRTIO];
	int nr_virtio;

	/* Console output watch: set when the guest prints a kernel panic.
	 * One match state per console: they are written by different threads. */
	int serial_panic_match;
	int virtio_panic_match;
	struct virtio_dev *virtio_console; /* with --console virtio */
	atomic_bool guest_panicked;

	/* Stop request: first one wins; the event loop is woken by stop_fd. */
	pthread_mutex_t stop_lock;
	enum vm_stop_reason stop_reason;
	int stop_status;
	int stop_fd; /* eventfd */
	atomic_bool stopping;

	/*
	 * Pause (src/vm/pause.c): while pause_req is set, vCPU threads wait on
	 * pause_cond outside KVM_RUN. pause_lock protects the counts; user_paused
	 * is kvmbox pause's state, pause_count counts all holders (debug
	 * requests pause briefly too).
	 */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_req;
	int nr_parked;
	int pause_count;
	bool user_paused;

	struct virtio_dev *balloon; /* with --balloon */
};

int vm_create(struct vm *vm, const struct vm_config *cfg, struct kb_err *err);
/* Loads the raw program or the Linux kernel and sets up the boot vCPU. */
int vm_load(struct vm *vm, struct kb_err *err);
/* Runs until the VM stops; returns the stop reason, status in *status. */
enum vm_stop_reason vm_run(struct vm *vm, struct term *term, int *status);
void vm_destroy(struct vm *vm);

/* Any thread: ask the VM to stop. Only the first request counts. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status);
const char *vm_stop_reason_str(enum vm_stop_reason r);

/*
 * Pause and resume (any thread but the vCPUs'): vm_pause() returns once
 * every running vCPU is parked outside KVM_RUN (-ETIMEDOUT after 5 s,
 * undone), and with @user it marks the VM paused for kvmbox pause and
 * tells the guest through KVM_KVMCLOCK_CTRL. Pauses nest.
 */
int vm_pause(struct vm *vm, bool user);
void vm_resume(struct vm *vm, bool user);
bool vm_is_paused(struct vm *vm);
/* Wakes parked vCPUs when the VM stops (vm_run). */
void vm_pause_release_all(struct vm *vm);
/* Graceful stop: Ctrl-Alt-Del on the keyboard. 0 or -errno. */
int vm_send_ctrl_alt_del(struct vm *vm);

/* The environment virtio-pci devices get: guest memory, event loop, INTx
 * routing, MSI and ioeventfd through KVM. */
void vm_virtio_env(struct vm *vm, struct virtio_pci_env *env);

/* Full guest command line for a Linux boot: user's, plus console and quirks. */
int vm_build_cmdline(const struct vm *vm, char *buf, size_t len, struct kb_err *err);

#endif
