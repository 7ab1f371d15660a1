// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_floor: the least a VMM can do to run a flat real-mode program.
 *
 * Usage: kvm_floor FILE [ADDR]
 *
 * Opens /dev/kvm, creates a VM with one memory slot (1 MiB at guest address
 * 0), one vCPU in real mode with CS:IP = 0:ADDR (default 0x1000), copies FILE
 * to ADDR and calls KVM_RUN in a loop: a port I/O exit is ignored (nothing
 * listens, reads see whatever is in the buffer), HLT ends the run with status
 * 0; anything else is reported and ends it with status 1.
 *
 * It is the floor of bench/exitcost: the same guest code timed the same way
 * (whole process, exec to exit) as under kvmbox, so the difference is what
 * kvmbox adds per exit and at start-up. Nothing else from kvmbox is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEM_SIZE (1UL << 20)

static void die(const char *what)
{
	fprintf(stderr, "kvm_floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	unsigned long addr = 0x1000, exits = 0;
	int kvm, vm, vcpu, fd;
	long run_size;
	ssize_t len;
	void *mem;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: kvm_floor FILE [ADDR]\n");
		return 2;
	}
	if (argc == 3)
		addr = strtoul(argv[2], NULL, 0);
	if (addr >= MEM_SIZE) {
		fprintf(stderr, "kvm_floor: address 0x%lx outside the 1 MiB of RAM\n",
			addr);
		return 2;
	}

	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (mem == MAP_FAILED)
		die("mmap guest memory");
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die(argv[1]);
	len = read(fd, (char *)mem + addr, MEM_SIZE - addr);
	if (len < 0)
		die(argv[1]);
	close(fd);

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	/* Needed for real mode on VMX without unrestricted guest; harmless elsewhere. */
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0 && errno != EINVAL &&
	    errno != ENOTTY)
		die("KVM_SET_TSS_ADDR");

	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (long)sizeof(*run))
		die("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	/* Reset state is real mode at f000:fff0; move CS to 0 and start at addr. */
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.selector = 0;
	sregs.cs.base = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = addr;
	regs.rsp = 0x1000;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");

	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			exits++;
			break;
		case KVM_EXIT_HLT:
			if (getenv("KVM_FLOOR_VERBOSE"))
				fprintf(stderr, "kvm_floor: hlt after %lu I/O exits\n",
					exits);
			return 0;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr,
				"kvm_floor: internal error, suberror %" PRIu32 "\n",
				run->internal.suberror);
			return 1;
		default:
			fprintf(stderr, "kvm_floor: unexpected exit reason %" PRIu32 "\n",
				run->exit_reason);
			return 1;
		}
	}
}
