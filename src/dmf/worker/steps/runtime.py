"""What every step of one job run shares: the job, its settings, the injector, the secrets, the
command log, and the one way a child process is run.

A child runs from an argument list (`asyncio.create_subprocess_exec`, never a shell). Its stdout
and stderr are read line by line as they come: each line goes to the command log and the log
analyzer; stdout lines are also kept for the steps that parse them (counts, paths), not for the
migration command, whose output can be long. For
the doveadm worker type the secrets leave argv first (`commands.SecretSplit`): as a Dovecot
configuration on an inherited memory file (`-c /dev/fd/N`) or as `DMF_SETTING_*` environment
variables. A cancelled run kills its child's whole process group.

No child outlives the worker, even one killed with SIGKILL (a job reclaimed by another worker
must not run beside an orphan of its previous run):
- every child is the leader of its own process group, so its own children (a `dmf backup`
  started by a script) are reached with it;
- the child asks the kernel for SIGTERM when its parent dies (`prctl(PR_SET_PDEATHSIG)`, set
  between fork and exec). The kernel sends it when the *thread* that forked exits: children are
  forked by `asyncio.create_subprocess_exec` in the event-loop thread, which lives as long as the
  worker;
- a `GroupReaper`, one small helper process per worker, holds the list of those process groups
  and sends each SIGTERM when the worker's end of its pipe closes, that is when the worker is
  gone, however it went. PDEATHSIG alone would reach the group leader only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import ssl
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from dmf.parent_death import die_with_parent
from dmf.worker import commands
from dmf.worker.command_log import CommandLog
from dmf.worker.commands import SecretSplit, mask, shown
from dmf.worker.injection import Injector
from dmf.worker.job_context import JobContext
from dmf.worker.log_analyzer import LogAnalyzer
from dmf.worker.source_settings import CommandSpec, PhaseCommands, SourceSettings

STDERR_TAIL = 3  # stderr lines that stand for the errors of a failed command without Error: lines
EXIT_NOT_STARTED = 127  # the shell's "command not found", for a program that could not start
LINE_LIMIT = 1 << 20  # longest output line read whole; doveadm's are far shorter


# The reaper: reads "+PGID" / "-PGID" lines; at end of input (the worker is gone) it sends
# SIGTERM to every process group still listed. Standard library only, started isolated (-I -S).
_REAPER_SOURCE = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGTERM)
    except OSError:
        pass
"""


class GroupReaper:
    """The worker's helper process that ends the process groups of its children when the worker
    dies (module docstring). One per worker process, started at the first child; in its own
    process group, so that a terminal's Ctrl-C reaches the worker (which drains) but not it."""

    _instance: GroupReaper | None = None

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER_SOURCE], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0)
        self._owner = os.getpid()

    @classmethod
    def get(cls) -> GroupReaper:
        """The running reaper of this process (a new one if it died or belongs to a parent)."""
        current = cls._instance
        if current is None or current._owner != os.getpid() or current._process.poll() is not None:
            cls._instance = cls()
        return cls._instance

    def _send(self, line: str) -> None:
        stdin = self._process.stdin
        if stdin is None or self._process.poll() is not None:
            raise OSError("the process group reaper is gone")
        stdin.write(line.encode("ascii"))
        stdin.flush()

    def watch(self, group: int) -> None:
        self._send(f"+{group}\n")

    def forget(self, group: int) -> None:
        with contextlib.suppress(OSError):
            self._send(f"-{group}\n")


class Metrics(Protocol):
    def command_finished(self, step: str, duration_seconds: float) -> None: ...

    def job_retried(self) -> None: ...


@dataclass(frozen=True)
class CommandResult:
    shown: str
    exit_code: int
    stdout: list[str]
    errors: list[str]

    @property
    def success(self) -> bool:
        return self.exit_code == 0

    def entry(self, **extra: Any) -> dict[str, Any]:
        """The seed's detail fields of a command step."""
        return {"success": self.success, "command": self.shown, "exitCode": self.exit_code,
                "errors": list(self.errors), **extra}


@dataclass
class StepRuntime:
    context: JobContext
    settings: SourceSettings
    doveadm: str
    injector: Injector
    secrets: frozenset[str]
    command_log: CommandLog
    doveadm_type: bool = True
    metrics: Metrics | None = None
    api_tls: ssl.SSLContext | bool = True  # verification of the doveadm HTTP API (move user)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def phase_commands(self) -> PhaseCommands:
        """`command.cutover` for a cutover job, `command.sync` for a pre-sync one."""
        configured = self.settings.command
        return configured.cutover if self.context.phase == "cutover" else configured.sync

    def render(self, spec: CommandSpec) -> list[str]:
        return commands.render(spec, self.injector.expand)

    async def run(self, step: str, argv: list[str], analyzer: LogAnalyzer | None = None, *,
                  keep_stdout: bool = True) -> CommandResult:
        """Run one command to its end. `analyzer` (a fresh one when not given) sees every output
        line; the result's errors are its errors, else the last stderr lines of a failed run.
        Raises SecretInArgvError (a ConfigError) before starting a doveadm-type child whose argv
        would carry a password."""
        analyzer = analyzer or LogAnalyzer()
        display = shown(argv, self.secrets)
        self.command_log.command(display)
        started = time.monotonic()
        stdout: list[str] | deque[str] = [] if keep_stdout else deque(maxlen=0)
        stderr: deque[str] = deque(maxlen=STDERR_TAIL)
        exit_code, spawn_error = await self._spawn(argv, analyzer, stdout, stderr)
        self.command_log.exit(exit_code)
        if self.metrics is not None:
            self.metrics.command_finished(step, time.monotonic() - started)
        errors = [spawn_error] if spawn_error else list(analyzer.errors)
        if exit_code != 0 and not errors:
            errors = list(stderr) or [f"exit code {exit_code}"]
        return CommandResult(display, exit_code, list(stdout),
                             [mask(error, self.secrets) for error in errors])

    async def _spawn(self, argv: list[str], analyzer: LogAnalyzer,
                     stdout: list[str] | deque[str],
                     stderr: deque[str]) -> tuple[int, str | None]:
        env = dict(os.environ)
        pass_fds: tuple[int, ...] = ()
        config_fd: int | None = None
        if self.doveadm_type:
            split = SecretSplit(argv, self.secrets)
            argv, env = split.argv, {**env, **split.env}
            config_text = split.config_text
            if config_text is not None:
                # close-on-exec: only this child gets it (pass_fds), never a sibling job's child
                config_fd = os.memfd_create("dmf-doveadm-settings", os.MFD_CLOEXEC)
                os.write(config_fd, config_text.encode("utf-8"))
                os.lseek(config_fd, 0, os.SEEK_SET)
                pass_fds = (config_fd,)
                argv = [argv[0], "-c", f"/dev/fd/{config_fd}", *argv[1:]]
        try:
            reaper = GroupReaper.get()
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, pass_fds=pass_fds, limit=LINE_LIMIT,
                process_group=0, preexec_fn=functools.partial(die_with_parent, os.getpid()))
        except OSError as exc:
            return EXIT_NOT_STARTED, f"cannot run {argv[0]}: {exc.strerror or exc}"
        finally:
            if config_fd is not None:
                os.close(config_fd)
        pipes = ((process.stdout, stdout), (process.stderr, stderr))
        try:
            reaper.watch(process.pid)
            await asyncio.gather(*(self._pump(pipe, analyzer, kept)
                                   for pipe, kept in pipes if pipe is not None))
            exit_code = await process.wait()
        except BaseException:  # cancelled, or the reaper gone: the child must not run unwatched
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            raise
        finally:
            reaper.forget(process.pid)
        return _exit_status(exit_code), None

    async def _pump(self, stream: asyncio.StreamReader, analyzer: LogAnalyzer,
                    kept: list[str] | deque[str]) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # asyncio discarded a line over LINE_LIMIT; say so, go on
                self.command_log.line(f"[an output line over {LINE_LIMIT} bytes was dropped]")
                continue
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.command_log.line(line)
            analyzer.feed(line)
            kept.append(line)


def _exit_status(returncode: int) -> int:
    """A child killed by signal N reports 128+N, as a shell does (134 is SIGABRT, a doveadm
    panic, which the seed's `code-max` names)."""
    return 128 - returncode if returncode < 0 else returncode
