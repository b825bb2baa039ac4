#!/usr/bin/env python3
"""Local backup benchmark: `dmf backup` against `cp -a` and `doveadm backup` on the same corpus,
measured in one run (this machine's file creation is noisy: only same-run ratios count).

For each corpus size it writes a corpus with ../shared/bench/make_corpus.py, then, in each of
--rounds interleaved rounds, times
  cp -a      the corpus into a fresh directory
  dmf        a full first run into an empty destination
  doveadm    the same on its own copy of the source (standalone, chowned to the mail uid,
             default fsync settings)
  cp -a + sync  cp -a then `sync -f` (one syncfs, as dmf makes its copy durable): what the
             plain copy costs once it is on disk; a reference beside the targets, not one
and afterwards each tool's no-change re-runs. It prints every sample, the medians, the ratios of
the medians against the targets, and dmf's peak memory (ru_maxrss of the child).

Every timed run starts after sync(2) with no dirty pages left by the run before: otherwise the
tool that syncs (dmf's batched syncfs, doveadm's fsyncs) pays for writing back the previous
tool's 800 MB, and cp -a, which never syncs, would be timed against a disk busy with that
writeback. Run as root, it also drops the page cache before every run and reads back what the
run reads (the sources, the tool's own program files): on these VMs, page cache grown into
memory the guest never touched before is slow to get (cp -a of the 2,000-message corpus took
0.4-0.55 s with 19 GB of earlier rounds' copies cached, 0.10-0.13 s right after dropping them),
so a run's figure depended on how many copies the rounds before it had left in memory.

Each run writes into a fresh directory and nothing is deleted until the end: ext4 makes every
file creation search past inodes freed in the last minutes, so a tree removed just before a run
slows that run (cp -a of the same 800 MB: 0.6 s on a quiet filesystem, 2-3 s right after a
removal). Rounds interleave the tools so that a slow minute of a shared machine lands on all of
them alike; only ratios from one run of this script count. Several minutes after the last
removal of many files on this filesystem (an earlier run's clean-up) give the figures of a quiet
one.

With --one-mailbox it also times the same corpus with every message in INBOX: dmf with its
default processes (which then share that one mailbox's bodies) against one process and cp -a.

Usage: bench/backup_local.py [--messages N ...] [--rounds R] [--workdir DIR] [--keep]
                             [--one-mailbox]
Skips (exit 0, a message) when make_corpus.py or doveadm is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# doveadm is run by the tests' own wrapper (one place knows how to run it standalone)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from tests.fixtures.dovecot import Doveadm, find_doveadm  # noqa: E402

MAKE_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_corpus.py"
FALLBACK_MAKE_CORPUS = Path("/work/shared/bench/make_corpus.py")
TARGETS = {"full vs doveadm": 0.6, "full vs cp -a": 2.0, "no-change seconds": 0.4,
           "peak memory MB": 100.0}
NO_CHANGE_RUNS = 3
# What a backup imports, for the untimed warm-up after the page cache is dropped
DMF_IMPORTS = "import ctypes, dmf.cli.sync_commands, dmf.dsync.parallel, dmf.mail.location"
SETTLE_SECONDS = 1.0


@dataclass(frozen=True)
class Timed:
    seconds: float
    max_rss_kb: int
    cpu_seconds: float  # user + system: the wall time's rest is waiting (for the disk)


# What every timed run reads: read back into the page cache after it is dropped.
WARM_TREES: list[Path] = []


def _read_tree(top: Path) -> None:
    for directory, _, names in os.walk(top):
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:
                while handle.read(1 << 20):
                    pass


def _settle(warm: list[list[str]], env: dict[str, str] | None) -> None:
    """Nothing dirty left by an earlier run, and (as root) the page cache dropped and filled
    again with the sources and, by running `warm` untimed, the tool's program files."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("1")
    except OSError:
        pass  # not root: the rounds' copies stay cached
    else:
        for tree in WARM_TREES:
            _read_tree(tree)
        for command in warm:
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
    time.sleep(SETTLE_SECONDS)


def run(*commands: list[str], env: dict[str, str] | None = None,
        warm: list[list[str]] | None = None) -> Timed:
    """Run children one after the other, timed together, from a settled page cache (see
    _settle; `warm` defaults to each command's `--version`); their wall time and peak
    resident memory."""
    _settle([[command[0], "--version"] for command in commands] if warm is None else warm,
            env)
    started = time.perf_counter()
    max_rss = cpu = 0.0
    for command in commands:
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
        if child.stderr:
            child.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{command[0]} exited {code}: {stderr.strip()[-2000:]}")
        max_rss = max(max_rss, usage.ru_maxrss)
        cpu += usage.ru_utime + usage.ru_stime
    return Timed(time.perf_counter() - started, int(max_rss), cpu)


def median(samples: list[Timed]) -> Timed:
    """The middle sample: one busy moment of a shared machine would otherwise decide the
    figure."""
    return sorted(samples, key=lambda timed: timed.seconds)[len(samples) // 2]


def doveadm_backup(doveadm: Doveadm, source: Path, dest: Path) -> Timed:
    return run(doveadm.argv(source, "backup", f"maildir:{dest}"), env=doveadm.env,
               warm=[[doveadm.binary, "help"]])


def compile_dmf() -> None:
    """dmf as installed from a wheel: its modules compiled once. An editable install under
    PYTHONDONTWRITEBYTECODE=1 (as on these machines) would compile every module it imports on
    every run, 20 ms of start-up that no installed dmf pays."""
    import dmf

    subprocess.run([sys.executable, "-m", "compileall", "-q", *dmf.__path__], check=True)


def dmf_command() -> list[str]:
    """The `dmf` script installed beside this interpreter, as a user runs it (`python -m dmf`
    would add runpy's imports to every run), else `python -m dmf`."""
    script = Path(sys.executable).with_name("dmf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dmf"]


def dmf_backup(source: Path, dest: Path, *settings: str) -> Timed:
    options = [arg for setting in settings for arg in ("-o", setting)]
    return run([*dmf_command(), "-o", f"mail_location=maildir:{source}", *options, "backup",
                f"maildir:{dest}"], env={**os.environ, "USER": "bench"},
               warm=[[sys.executable, "-c", DMF_IMPORTS]])


def flatten(corpus: Path, inbox: Path) -> None:
    """Every message of the corpus into one INBOX (hard links; keyword letters dropped, their
    meaning is per folder), as kept by a user who never files mail."""
    for subdir in ("cur", "new", "tmp"):
        (inbox / subdir).mkdir(parents=True)
    for directory, _, names in os.walk(corpus):
        if Path(directory).name in ("cur", "new"):
            for name in names:
                base, _, flags = name.partition(":2,")
                kept = "".join(letter for letter in flags if letter.isupper())
                os.link(Path(directory) / name, inbox / "cur" / f"{base}:2,{kept}")


def bench_one_mailbox(messages: int, rounds: int, workdir: Path, make_corpus: Path) -> None:
    """The same corpus all in INBOX: dmf with its default processes (which share the one
    mailbox's bodies) against one process, and against cp -a."""
    base = workdir / f"inbox{messages}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    subprocess.run([sys.executable, str(make_corpus), "maildir", str(base / "corpus"),
                    "--messages", str(messages)], check=True, stdout=subprocess.DEVNULL)
    source = base / "inbox"
    flatten(base / "corpus", source)
    WARM_TREES[:] = [source]
    samples: dict[str, list[Timed]] = {"cp -a": [], "dmf": [], "dmf, 1 process": []}
    for round_number in range(rounds):
        samples["cp -a"].append(run(["cp", "-a", str(source), str(base / f"cp{round_number}")]))
        samples["dmf"].append(dmf_backup(source, base / f"dmf{round_number}"))
        samples["dmf, 1 process"].append(
            dmf_backup(source, base / f"one{round_number}", "dmf_sync_processes=1"))
    print(f"\n== {messages} messages all in INBOX, {rounds} rounds ==")
    for tool, timings in samples.items():
        print(f"{tool + ' full runs':24}" + " ".join(f"{t.seconds:7.3f}" for t in timings))
    for ours, theirs in (("dmf", "dmf, 1 process"), ("dmf", "cp -a")):
        print(f"{ours + ' / ' + theirs + ' by round':24}" + " ".join(
            f"{mine.seconds / other.seconds:7.3f}"
            for mine, other in zip(samples[ours], samples[theirs], strict=True)))
    for tool, timings in samples.items():
        print(f"{'median ' + tool:24}{median(timings).seconds:10.3f}")


def bench_size(messages: int, rounds: int, workdir: Path, make_corpus: Path,
               doveadm_binary: str) -> dict[str, float]:
    base = workdir / f"n{messages}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    corpus = base / "corpus"
    subprocess.run([sys.executable, str(make_corpus), "maildir", str(corpus), "--messages",
                    str(messages)], check=True, stdout=subprocess.DEVNULL)
    size_mb = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()) / 1e6
    doveadm = Doveadm(doveadm_binary, base / "doveadm", fsync=True)
    doveadm_source = doveadm.copy(corpus)
    dmf_source = base / "dmf-source"  # dmf writes its dovecot-uidlist files, as doveadm does
    subprocess.run(["cp", "-a", str(corpus), str(dmf_source)], check=True)
    WARM_TREES[:] = [corpus, dmf_source, doveadm_source]

    samples: dict[str, list[Timed]] = {"cp -a": [], "dmf": [], "doveadm": [],
                                       "cp -a + sync": []}
    for round_number in range(rounds):  # fresh directories, nothing deleted until the end
        samples["cp -a"].append(run(["cp", "-a", str(corpus), str(base / f"cp{round_number}")]))
        synced = base / f"cps{round_number}"  # what the same copy costs made durable
        samples["cp -a + sync"].append(run(["cp", "-a", str(corpus), str(synced)],
                                           ["sync", "-f", str(base)]))
        dmf_dest = base / f"dmf{round_number}" / "Maildir"
        samples["dmf"].append(dmf_backup(dmf_source, dmf_dest))
        doveadm_dest = doveadm.new_dir() / "Maildir"
        samples["doveadm"].append(doveadm_backup(doveadm, doveadm_source, doveadm_dest))
    ours_again = median([dmf_backup(dmf_source, dmf_dest) for _ in range(NO_CHANGE_RUNS)])
    theirs_again = median([doveadm_backup(doveadm, doveadm_source, doveadm_dest)
                           for _ in range(NO_CHANGE_RUNS)])
    copy, ours_full, theirs_full, durable_copy = (median(samples[tool]) for tool in samples)

    peak_mb = max(timed.max_rss_kb for timed in [*samples["dmf"], ours_again]) / 1024
    print(f"\n== {messages} messages, {size_mb:.0f} MB, {rounds} rounds ==")
    for tool, timings in samples.items():
        print(f"{tool + ' full runs':24}" + " ".join(f"{t.seconds:7.3f}" for t in timings)
              + "   (CPU " + " ".join(f"{t.cpu_seconds:.2f}" for t in timings) + ")")
    for peer in ("cp -a", "doveadm", "cp -a + sync"):  # a round's runs are seconds apart
        print(f"{'dmf / ' + peer + ' by round':24}" + " ".join(
            f"{ours.seconds / theirs.seconds:7.3f}"
            for ours, theirs in zip(samples["dmf"], samples[peer], strict=True)))
    print(f"{'median seconds:':24}")
    for label, timed in (("cp -a", copy), ("dmf backup (full)", ours_full),
                         ("doveadm backup (full)", theirs_full),
                         ("cp -a + sync", durable_copy),
                         ("dmf backup (no change)", ours_again),
                         ("doveadm (no change)", theirs_again)):  # no change: median of 3
        print(f"{label:24}{timed.seconds:10.3f}")
    figures = {"full vs doveadm": ours_full.seconds / theirs_full.seconds,
               "full vs cp -a": ours_full.seconds / copy.seconds,
               "no-change seconds": ours_again.seconds,
               "peak memory MB": peak_mb}
    for label, value in figures.items():
        verdict = "ok" if value <= TARGETS[label] else "MISSED"
        print(f"{label:24}{value:10.3f}   target <= {TARGETS[label]:<5} {verdict}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[2000, 20000],
                        help="corpus sizes (default: 2000 20000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved full runs of each tool (default: 3)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dmf-bench"),
                        help="scratch space, world-traversable for doveadm (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the trees afterwards")
    parser.add_argument("--one-mailbox", action="store_true",
                        help="also the same corpora with every message in INBOX")
    args = parser.parse_args(argv)
    make_corpus = next((p for p in (MAKE_CORPUS, FALLBACK_MAKE_CORPUS) if p.exists()), None)
    binary = find_doveadm()
    if make_corpus is None or binary is None:
        print("skipped: needs ../shared/bench/make_corpus.py and doveadm")
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.workdir.chmod(0o755)
    compile_dmf()
    try:
        for messages in args.messages:
            bench_size(messages, args.rounds, args.workdir, make_corpus, binary)
            if args.one_mailbox:
                bench_one_mailbox(messages, args.rounds, args.workdir, make_corpus)
    finally:
        if not args.keep:
            for messages in args.messages:
                shutil.rmtree(args.workdir / f"n{messages}", ignore_errors=True)
                shutil.rmtree(args.workdir / f"inbox{messages}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
