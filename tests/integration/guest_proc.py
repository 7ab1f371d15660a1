# SPDX-License-Identifier: GPL-2.0-only
"""A `kvmbox run` in the background whose output a thread collects (so the
pipe never fills), for tests that talk to a running guest."""
import os
import subprocess
import threading
import time


class BackgroundVM:
    def __init__(self, argv, env=None):
        self.out = b""
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def text(self, tail=3000):
        with self.lock:
            return self.out.decode(errors="replace")[-tail:]

    def wait_for(self, needle, timeout):
        """True once @needle (bytes) was printed; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if needle in self.out:
                    return True
            if self.proc.poll() is not None:
                self.reader.join(timeout=5)
                with self.lock:
                    return needle in self.out
            time.sleep(0.2)
        return False

    def wait(self, timeout):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=5)
