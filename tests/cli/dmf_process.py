"""Run the real `dmf` entry point in a child process, as a user or the worker would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_dmf(*args: str, user: str = "tester", home: Path | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("USER", "HOME")}
    env["USER"] = user
    env["TZ"] = os.environ.get("TZ", "UTC")
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "dmf", *args], capture_output=True,
                          text=True, env=env, input=stdin, timeout=120)


def run_dmf_on_terminal(*args: str, user: str = "tester") -> tuple[int, bytes]:
    """Run dmf with stderr on a pseudo-terminal (as a person at a shell); (exit code, what the
    terminal showed)."""
    import pty

    controller, terminal = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "dmf", *args], stdout=subprocess.PIPE,
                             stderr=terminal, env={**os.environ, "USER": user})
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    return child.wait(timeout=120), seen


def tab_rows(text: str) -> tuple[list[str], set[tuple[str, ...]]]:
    """(header, rows) of `-f tab` output; rows as a set, as doveadm lists in its own order."""
    header, *lines = text.split("\n")[:-1]
    return header.split("\t"), {tuple(line.split("\t")) for line in lines}
