"""Run a command in a real pseudo-terminal and read back what it printed there.

The child sees a TTY on stdin, stdout and stderr (``isatty()`` is true, rich draws live
progress bars and colours), with the given size; what comes back is the raw byte stream
and a plain-text form with the terminal escape sequences removed.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

_ESCAPES = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    r"|\x1b[()][A-Z0-9]|\x1b[=>]"
)


@dataclass
class PtyResult:
    returncode: int
    raw: str

    @property
    def text(self) -> str:
        """The output without escape sequences, carriage returns turned into newlines."""
        return _ESCAPES.sub("", self.raw).replace("\r\n", "\n").replace("\r", "\n")


def run_in_pty(
    argv: list[str], *, env: dict[str, str], columns: int = 120, rows: int = 50,
    timeout: float = 300,
) -> PtyResult:  # fmt: skip
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise TimeoutError(f"{argv} did not finish in {timeout} s")
    finally:
        os.close(master)
    returncode = process.wait(timeout=30)
    return PtyResult(returncode, b"".join(chunks).decode("utf-8", errors="replace"))
