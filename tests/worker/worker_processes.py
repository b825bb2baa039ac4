"""Real `dmf worker` processes for the tests: a config file per worker, start, wait, signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from dmf.service.config_loader import deep_merge
from tests.fixtures.databases import free_port

ADMIN = ("admin", "worker-test-pw")


def worker_config(db_url: str, memberid: str, port: int, **dmf_worker: Any) -> dict[str, Any]:
    """A plain-HTTP worker on 127.0.0.1:`port`; `dmf_worker` entries merge over `dmf.worker`."""
    config: dict[str, Any] = {
        "micronaut": {"ssl": {"enabled": False}, "server": {"host": "127.0.0.1", "port": port}},
        "http": {"admin": {"username": ADMIN[0], "password": ADMIN[1]}},
        "endpoints": {"health": {"disk-space": {"enabled": False}}},
        "datasources": {"default": {"url": db_url}},
        "dmf": {"worker": {
            "identity": {"target": "t", "memberid": memberid},
            "type": "simulator",
            "simulator": {"min-ms": 10, "max-ms": 30},
            "jobs": {"cache": {"refresh": "500ms"}, "max": 10,
                     "termination": {"timeout": 5000}},
        }},
    }
    return deep_merge(config, {"dmf": {"worker": dmf_worker}})


class WorkerProcess:
    """One `python -m dmf worker -c FILE` child; its output goes to `<dir>/worker-<id>.log`."""

    def __init__(self, directory: Path, db_url: str, memberid: str, **dmf_worker: Any) -> None:
        self.memberid = memberid
        self.port = free_port()
        self.config_path = directory / f"worker-{memberid}.yml"
        self.config_path.write_text(yaml.safe_dump(
            worker_config(db_url, memberid, self.port, **dmf_worker)), encoding="utf-8")
        self.log_path = directory / f"worker-{memberid}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def extend_config(self, extra: dict[str, Any]) -> None:
        """Merge more keys into the config file (before `start`)."""
        config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        self.config_path.write_text(yaml.safe_dump(deep_merge(config, extra)), encoding="utf-8")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dmf", "worker", "-c", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until /health answers (the worker registered and serves HTTP)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.memberid} exited with "
                                     f"{self.process.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"worker {self.memberid} not ready: {self.log()}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Clean-up: SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far, from /proc."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")
