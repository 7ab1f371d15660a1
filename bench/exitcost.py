#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Exit cost: microseconds per port I/O exit, kvmbox vs a bare KVM program.

The guest (real mode, at 0x1000) does COUNT one-byte `out` to port 0x80,
where nothing listens, then `hlt`:

    66 b9 <COUNT le32>   mov ecx, COUNT
    ba 80 00             mov dx, 0x80
    ee                   out dx, al
    67 e2 fc             loop (ecx) back to the out
    f4                   hlt

Per exit = (wall time of the run with COUNT=--count minus the wall time of
the run with COUNT=1) / --count, wall time being exec to exit of the
whole process, median of --runs runs each (interleaved). The floor is
bench/kvm_floor.c: open /dev/kvm, one memory slot, one vCPU, a KVM_RUN loop
that does nothing on KVM_EXIT_IO and stops on HLT.
"""

import os
import sys

import benchlib as bl


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100000, help="exits per run (default 100000)")
    ap.add_argument("--runs", type=int, default=5, help="runs per program and count (default 5)")
    args = ap.parse_args()

    kvmbox = bl.kvmbox_path(args)
    floor = bl.helper_path(args, "kvm_floor")
    wd = bl.workdir()
    one = bl.write_file(os.path.join(wd, "out1.bin"), bl.rm_out_loop_code(1))
    many = bl.write_file(os.path.join(wd, "out%d.bin" % args.count),
                         bl.rm_out_loop_code(args.count))

    bl.header("exit cost: %d port I/O exits (out to 0x80), median of %d runs"
              % (args.count, args.runs))
    progs = [("kvmbox", lambda f: [kvmbox, "run", "--raw", f]),
             ("kvm_floor", lambda f: [floor, f])]
    times = {(name, f): [] for name, _ in progs for f in (one, many)}
    # Warm up, and check that each run ends the way it should.
    for name, argv in progs:
        for f in (one, many):
            r = bl.timed_run(argv(f), timeout=120)
            if r.rc != 0:
                bl.fail("%s %s exited with %s (want 0, hlt): %s"
                        % (name, os.path.basename(f), r.rc, r.err_tail()))
                return 1
    for _ in range(args.runs):
        for name, argv in progs:
            for f in (one, many):
                r = bl.timed_run(argv(f), timeout=120)
                if r.rc != 0:
                    bl.fail("%s exited with %s: %s" % (name, r.rc, r.err_tail()))
                    return 1
                times[(name, f)].append(r.wall_ns)

    per = {}
    for name, _ in progs:
        t1 = bl.median(times[(name, one)])
        tn = bl.median(times[(name, many)])
        per[name] = (tn - t1) / args.count / 1000.0
        print("   %-10s %7.3f us/exit   (count=%d: %8.2f ms, count=1: %6.2f ms)"
              % (name, per[name], args.count, bl.ms(tn), bl.ms(t1)))
    print("   ratio kvmbox/floor: %.2fx  (kvmbox adds %.3f us per exit)"
          % (bl.ratio(per["kvmbox"], per["kvm_floor"]), per["kvmbox"] - per["kvm_floor"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
