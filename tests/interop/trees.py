"""Helpers of the backup acceptance tests: a corpus, the real `dmf` entry point as a child
process, client-like changes to a Maildir, and a full view of a tree to compare."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dmf.mail.location import open_storage

SHARED_CORPUS = Path("/work/shared/bench/make_corpus.py")
EVENT_PREFIX = "dmf-event "
USER = "dmftest"


def write_corpus(dest: Path, messages: int = 2000) -> str:
    """The shared benchmark corpus (with its hostile folder) when it exists, else the
    project's own sample; returns which one was written."""
    if SHARED_CORPUS.exists():
        subprocess.run([sys.executable, str(SHARED_CORPUS), "maildir", str(dest),
                        "--messages", str(messages), "--hostile"],
                       check=True, capture_output=True, timeout=300)
        return "make_corpus"
    from dmf.mail.sample import write_sample_maildir

    write_sample_maildir(dest, messages=min(messages, 400))
    return "sample"


def dmf_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dmf", *args]


def backup_command(source: Path, dest: Path, *extra: str) -> list[str]:
    return dmf_command("-v", "-o", f"mail_location=maildir:{source}", "backup", *extra,
                       f"maildir:{dest}")


def run_backup(source: Path, dest: Path, *extra: str) -> tuple[int, list[dict], str]:
    """Run `dmf -v backup`; returns (exit code, the per-mailbox event objects, stderr)."""
    done = subprocess.run(backup_command(source, dest, *extra), capture_output=True,
                          text=True, env={**os.environ, "USER": USER}, timeout=300,
                          check=False)
    events = [json.loads(line.split(EVENT_PREFIX, 1)[1])
              for line in done.stderr.splitlines() if EVENT_PREFIX in line]
    return done.returncode, events, done.stderr


def tree_view(root: Path) -> dict[str, object]:
    """Everything a client can see of a Maildir tree, read through dmf's storage: mailboxes
    (GUID, UIDVALIDITY, UIDNEXT), messages (UID, GUID, flags, keywords, date, body hash) and
    subscriptions."""
    storage = open_storage(f"maildir:{root}", user=USER, home=None)
    try:
        boxes = {}
        for meta in storage.list_mailboxes():
            box = storage.mailbox(meta.name)
            messages = []
            for message in box.messages():
                with box.open_body(message.uid) as body:
                    digest = hashlib.sha256(body.read()).hexdigest()
                messages.append((message.uid, message.guid, sorted(message.flags),
                                 sorted(message.keywords), message.internal_date, digest))
            boxes[meta.name] = {"guid": meta.guid, "uidvalidity": meta.uidvalidity,
                                "uidnext": meta.uidnext, "messages": messages}
        return {"mailboxes": boxes, "subscriptions": sorted(storage.subscriptions())}
    finally:
        storage.close()


def message_files(root: Path, with_tmp: bool = False) -> list[Path]:
    """Files in the cur/ and new/ directories of a tree (and tmp/ if asked)."""
    wanted = ("cur", "new", "tmp") if with_tmp else ("cur", "new")
    return [Path(directory) / name for directory, _, names in os.walk(root)
            if Path(directory).name in wanted for name in names]


def leftovers(root: Path) -> list[str]:
    """Temporary files and half-done work a killed run could leave behind."""
    found = []
    for directory, dirs, names in os.walk(root):
        found += [os.path.join(directory, d) for d in dirs if d.startswith("..dmf")]
        if Path(directory).name == "tmp":
            found += [os.path.join(directory, name) for name in names]
        found += [os.path.join(directory, n) for n in names if n.endswith(".lock")]
    return found


def damage(root: Path, rng: random.Random) -> None:
    """What a careless user or tool does to a backup: deletes messages, re-flags some, adds a
    folder with a message in it."""
    files = sorted(message_files(root))
    for path in rng.sample(files, 25):
        path.unlink()
    for path in rng.sample(sorted(message_files(root)), 25):
        base, _, flags = path.name.partition(":2,")
        target = path.parent.parent / "cur" / f"{base}:2,{'F' if 'F' not in flags else 'S'}"
        path.rename(target)
    extra = root / ".Extra folder"
    for subdir in ("cur", "new", "tmp"):
        (extra / subdir).mkdir(parents=True)
    (extra / "new" / f"{int(time.time())}.M1P1.example,S=20").write_bytes(b"Subject: x\n\nhello\n")


def mutate(root: Path, seed: int) -> dict[str, int]:
    """Client-like changes on a source: make_corpus.py's `mutate` when it exists, else the
    same kinds of change done here (flag renames, deletions, deliveries, a new folder)."""
    if SHARED_CORPUS.exists():
        done = subprocess.run([sys.executable, str(SHARED_CORPUS), "mutate", str(root),
                               "--seed", str(seed)], check=True, capture_output=True,
                              text=True, timeout=300)
        return json.loads(done.stdout)["counts"]
    rng = random.Random(seed)
    files = sorted(message_files(root))
    chosen = rng.sample(files, 30)
    for path in chosen[:20]:
        base, _, flags = path.name.partition(":2,")
        new_flags = "".join(sorted(set(flags) ^ {"F"}))
        path.rename(path.parent.parent / "cur" / f"{base}:2,{new_flags}")
    for path in chosen[20:]:
        path.unlink()
    folder = root / ".Mutated"
    for subdir in ("cur", "new", "tmp"):
        (folder / subdir).mkdir(parents=True)
    for number in range(5):
        (root / "new" / f"{2_000_000_000 + number}.M{number}P9.example,S=17").write_bytes(
            b"Subject: n\n\nnew\n")
    with open(root / "subscriptions", "a", encoding="ascii") as subscriptions:
        subscriptions.write("Mutated\n")
    return {"flag_changes": 20, "new": 5, "expunged": 10, "new_folders": 1}


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target
