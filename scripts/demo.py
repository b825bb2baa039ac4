"""`make demo`: the sync engine, then the main job, on the embedded default (SQLite).

Part 1 backs up a sample Maildir with `dmf backup` and shows `dmf mailbox status` of both sides.
Part 2 is a migration as an operator runs one: a scheduler with its admin API, users submitted
through the API (with source passwords, wrapped by the scheduler's key), one `dmf worker`
pulling each user's mail with `dmf backup -R` into the target's Maildir, each job's details
printed, then the worker stopped through the API. Everything lives under demo-out/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dmf.mail.sample import write_sample_maildir

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
DMF_BIN = str(Path(sys.executable).parent / "dmf")  # the venv's console script
DMF = [DMF_BIN]
USERS = ("alice", "bob", "carol")
ADMIN = ("admin", secrets.token_urlsafe(12))
API = "/dmf/admin/api/v2"
STATUS_FIELDS = "messages vsize uidnext uidvalidity unseen guid"


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def run(argv: list[str], env: dict[str, str] | None = None) -> None:
    shown = ["dmf", *(arg if arg and " " not in arg else repr(arg) for arg in argv[1:])]
    print("$ " + " ".join(shown), flush=True)
    subprocess.run(argv, check=True, env=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def engine_demo() -> None:
    banner("Part 1: dmf backup of a sample Maildir")
    source, backup = OUT / "engine" / "Maildir", OUT / "engine" / "backup" / "Maildir"
    write_sample_maildir(source, messages=60, seed=7)
    env = {**os.environ, "USER": "demo"}
    run([*DMF, "-v", "-o", f"mail_location=maildir:{source}", "backup", f"maildir:{backup}"], env)
    for label, location in (("source", source), ("backup", backup)):
        banner(f"dmf mailbox status of the {label}")
        run([*DMF, "-f", "table", "-o", f"mail_location=maildir:{location}", "mailbox", "status",
             STATUS_FIELDS, "*"], env)


def write_configs(api_port: int, worker_port: int) -> tuple[Path, Path]:
    database = f"sqlite:///{OUT / 'migration.db'}"
    key_file = OUT / "key1.key"
    key_file.write_bytes(secrets.token_bytes(32))
    key_file.chmod(0o600)
    scheduler = OUT / "scheduler.yml"
    scheduler.write_text(json.dumps({
        "micronaut": {"server": {"host": "127.0.0.1", "port": api_port},
                      "ssl": {"enabled": False}},
        "datasources": {"default": {"url": database}},
        "dmf": {"scheduler": {"crypto": {"key-name": "key1", "file": str(key_file)}}},
    }, indent=2))
    worker = OUT / "dmf-worker.yml"
    # The worker sits on the target: the local user's mail is the target Maildir (given to every
    # dmf child by DMF_SETTING_MAIL_LOCATION), the source is pulled with `backup -R`.
    worker.write_text(json.dumps({
        "micronaut": {"server": {"host": "127.0.0.1", "port": worker_port},
                      "ssl": {"enabled": False}},
        "datasources": {"default": {"url": database}},
        "dmf": {
            "worker": {
                "identity": {"target": "default", "memberid": "1"},
                "sources": ["default"],
                "type": "doveadm",
                "jobs": {"max": 2, "cache": {"refresh": "1s"}},
                "crypto": {"storageKeys": {"key1": {"file": str(key_file)}}},
                "command": {"logging": {"type": "file", "file": {
                    "location": str(OUT / "logs"), "delete-on-success": False}}},
            },
            "doveadm": {
                "path": DMF_BIN,
                "source": {"default": {
                    "count": {"remote": True, "remote-command": {
                        "name": DMF_BIN,
                        "options": [{"name": "-o", "value":
                                    f"mail_location=maildir:{OUT}/source/%{{mdb:uid}}/Maildir"}],
                        "sub-command": {"name": "mailbox status",
                                        "options": [{"name": "-u", "value": "%{mdb:uid}"}],
                                        "arguments": ["messages vsize", "*"]}}},
                    "command": {"sync": {"sync": {
                        "name": DMF_BIN,
                        "options": [{"name": "-v"}],
                        "sub-command": {
                            "name": "backup", "flags": "-R",
                            "options": [{"name": "-u", "value": "%{mdb:uid}"}],
                            "arguments": [f"maildir:{OUT}/source/%{{mdb:uid}}/Maildir"]}}}},
                }},
            },
        },
    }, indent=2))
    return scheduler, worker


def wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer at {url}")


def worker_demo() -> None:
    banner("Part 2: a migration with the scheduler and one worker (SQLite)")
    for index, uid in enumerate(USERS):
        write_sample_maildir(OUT / "source" / uid / "Maildir", messages=20 + 10 * index,
                             seed=index + 1)
    api_port, worker_port = free_port(), free_port()
    scheduler_file, worker_file = write_configs(api_port, worker_port)
    env = {**os.environ, "HTTP_ADMIN_USERNAME": ADMIN[0], "HTTP_ADMIN_PASSWORD": ADMIN[1],
           "DMF_SETTING_MAIL_LOCATION": f"maildir:{OUT}/target/%u/Maildir"}
    logs = (OUT / "scheduler.log").open("wb"), (OUT / "worker.log").open("wb")
    scheduler = subprocess.Popen([*DMF, "scheduler", "-c", str(scheduler_file)], env=env,
                                 stdout=logs[0], stderr=subprocess.STDOUT)
    worker = None
    try:
        base = f"http://127.0.0.1:{api_port}"
        wait_for(f"{base}/health", scheduler, "dmf scheduler")
        print(f"scheduler: {base}{API} (log: {logs[0].name})")
        api = httpx.Client(base_url=base + API, auth=ADMIN, timeout=10)
        api.post("/targets", json={"name": "default"}).raise_for_status()
        api.post("/sources", json={"name": "default"}).raise_for_status()
        for uid in USERS:
            job = api.post("/jobs", json={
                "uid": uid, "ruid": uid, "email": f"{uid}@example.com", "source": "default",
                "password": secrets.token_urlsafe(10), "phase": "pre-sync"}).raise_for_status()
            print(f"submitted job {job.json()['id']} for {uid} (password wrapped with key1)")
        worker = subprocess.Popen([*DMF, "worker", "-c", str(worker_file)], env=env,
                                  stdout=logs[1], stderr=subprocess.STDOUT)
        wait_for(f"http://127.0.0.1:{worker_port}/health", worker, "dmf worker")
        print(f"worker default/1 started (log: {logs[1].name})")
        jobs = wait_until_done(api)
        for job in jobs:
            detail = api.get(f"/jobs/{job['id']}").json()
            banner(f"job {job['id']} {job['uid']}: {detail['status']} on {detail['backend']}")
            print(json.dumps(detail["details"], indent=2))
        api.patch("/targets/default/backends",
                  json={"name": "default/1", "command": "STOP"}).raise_for_status()
        worker.wait(timeout=30)
        print(f"\nworker stopped by the API's STOP command (exit {worker.returncode})")
        banner("dmf mailbox status of bob's migrated mailbox")
        run([*DMF, "-f", "table", "mailbox", "status", "-u", "bob", STATUS_FIELDS, "*"], env)
        if any(job["status"] != "SUCCESS" for job in jobs):
            raise SystemExit("some jobs failed: see above")
    finally:
        for process in (worker, scheduler):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


def wait_until_done(api: httpx.Client) -> list[dict]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = api.get("/jobs").raise_for_status().json()["items"]
        if jobs and all(job["status"] in ("SUCCESS", "FAILURE", "CANCELLED") for job in jobs):
            return jobs
        time.sleep(0.5)
    raise SystemExit("jobs did not finish within 120 s")


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    engine_demo()
    worker_demo()
    print("\ndemo done: everything is under demo-out/")


if __name__ == "__main__":
    main()
