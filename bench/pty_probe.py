"""Run a program in a pseudo-terminal of a given size and count what it writes and burns.

Shared by the terminal-cost and key-latency benchmarks: a pty is what tmux or an SSH session gives
the cockpit, so bytes read from its master are the bytes an operator's link would carry.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


@dataclass
class Terminal:
    proc: subprocess.Popen[bytes]
    master: int

    @classmethod
    def spawn(cls, argv: list[str], cols: int, rows: int, env: dict[str, str] | None = None) -> Terminal:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", **(env or {})}
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True
        )
        os.close(slave)
        return cls(proc, master)

    def read_for(self, seconds: float) -> bytes:
        """Everything written within ``seconds`` (the terminal must keep being drained)."""
        chunks = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunks.append(os.read(self.master, 65536))
                except OSError:
                    break
        return b"".join(chunks)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)
