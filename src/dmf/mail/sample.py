"""A small deterministic sample Maildir, written the way a delivery agent writes one (raw files
in new/ and cur/, a dovecot-uidlist for some folders only), for `make demo` and for tests that
must not depend on anything outside the repository.

It holds INBOX, a nested folder, a non-ASCII folder (modified UTF-7 on disk), one folder
without a dovecot-uidlist (as procmail would leave it), flags and keywords, a subscriptions
file, and the nasty messages every migration meets: no headers, bare LF, bare CR, NUL bytes,
8-bit headers, and a long single line.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from dmf.mail import mutf7

FOLDERS = ("INBOX", "Sent", "Archive", "Archive/2024", "Entwürfe")
NO_UIDLIST_FOLDER = "Archive/2024"
KEYWORDS = ("$Forwarded", "Work", "$label1")
START_TIME = 1_700_000_000
LONG_LINE_BYTES = 200_000

NASTY_BODIES = (
    b"this message has no header at all\n",
    b"Subject: bare LF\nFrom: a@example.com\n\nline one\nline two\n",
    b"Subject: bare CR\rFrom: a@example.com\r\rline one\rline two\r",
    b"Subject: NUL bytes\r\n\r\nbefore\x00after\x00\r\n",
    "Subject: 8-bit header Grüße ✓\r\nFrom: Jörg <j@example.com>\r\n\r\nbody\r\n".encode(),
    b"Subject: long line\r\n\r\n" + b"x" * LONG_LINE_BYTES + b"\r\n",
    b"Subject: mixed\r\n\r\ncrlf\r\nlf\ncr\rend",
)


def _folder_dir(dest: Path, name: str) -> Path:
    if name == "INBOX":
        return dest
    return dest / ("." + ".".join(mutf7.encode(level) for level in name.split("/")))


def _message(rng: random.Random, number: int, folder: str) -> bytes:
    words = " ".join(rng.choice(("mail", "sync", "dovecot", "folder", "flag", "ünïcode"))
                     for _ in range(rng.randint(5, 40)))
    return (f"Message-ID: <{number}.{folder.replace('/', '-')}@sample.example>\r\n"
            f"From: Sender {number} <s{number}@example.com>\r\n"
            f"To: user@example.com\r\nSubject: sample {number} in {folder}\r\n"
            f"Date: Tue, 14 Nov 2023 22:13:{number % 60:02d} +0000\r\n\r\n{words}\r\n").encode()


def write_sample_maildir(dest: Path, messages: int = 50, seed: int = 1) -> None:
    """Write the sample under `dest` (created; must not hold a Maildir already)."""
    rng = random.Random(seed)
    dest = Path(dest)
    uidlists: dict[str, list[str]] = {name: [] for name in FOLDERS}
    keyword_folders: set[str] = set()
    for name in FOLDERS:
        for subdir in ("cur", "new", "tmp"):
            (_folder_dir(dest, name) / subdir).mkdir(parents=True, exist_ok=True)
        if name != "INBOX":
            (_folder_dir(dest, name) / "maildirfolder").touch()
    bodies = [*NASTY_BODIES, *(None for _ in range(max(0, messages - len(NASTY_BODIES))))]
    for number, nasty in enumerate(bodies[:max(messages, 0)], start=1):
        folder = "INBOX" if nasty is not None else rng.choice(FOLDERS)
        body = nasty if nasty is not None else _message(rng, number, folder)
        when = START_TIME + number * 3600 + rng.randint(0, 3599)
        base = f"{when}.M{rng.randint(0, 999_999)}P{1000 + number}Q{number}.sample,S={len(body)}"
        letters = "".join(sorted(rng.sample("DFRST", rng.randint(0, 2))))
        if rng.random() < 0.2:
            letters += "abc"[rng.randint(0, 2)]
            keyword_folders.add(folder)
        if letters or rng.random() < 0.3:
            path = _folder_dir(dest, folder) / "cur" / f"{base}:2,{letters}"
        else:
            path = _folder_dir(dest, folder) / "new" / base
        path.write_bytes(body)
        os.utime(path, (when, when))
        uidlists[folder].append(base)
    for folder in keyword_folders:
        (_folder_dir(dest, folder) / "dovecot-keywords").write_text(
            "".join(f"{index} {name}\n" for index, name in enumerate(KEYWORDS)))
    for index, (folder, bases) in enumerate(uidlists.items()):
        if folder == NO_UIDLIST_FOLDER:
            continue
        guid = f"{rng.getrandbits(128):032x}"
        lines = [f"3 V{1_600_000_000 + index} N{len(bases) + 1} G{guid}"]
        lines += [f"{uid} :{base}" for uid, base in enumerate(bases, start=1)]
        (_folder_dir(dest, folder) / "dovecot-uidlist").write_text("\n".join(lines) + "\n")
    subscribed = [mutf7.encode(name).replace("/", "\t") for name in FOLDERS if name != "Archive"]
    (dest / "subscriptions").write_text("V\t2\n\n" + "".join(f"{s}\n" for s in subscribed))
