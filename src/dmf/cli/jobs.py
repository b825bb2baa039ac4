"""`dmf jobs submit|list|show|cancel|requeue`: the scheduler's job API for operators without curl.

Where the scheduler is and who asks: `--url` / `DMF_SCHEDULER_URL`, `--user` /
`DMF_SCHEDULER_USER`, and the password from `DMF_SCHEDULER_PASSWORD`, `--password-file`, or a
prompt: never from argv, where `ps` would show it. The same holds for a submitted user's
source password (`--source-password-file`, `-` for stdin).
"""

from __future__ import annotations

import json
import os
import sys
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmf.cli.context import GlobalOptions
from dmf.cli.parsing import Parser, add_command, file_path, int_range
from dmf.cli.run import guarded
from dmf.errors import DmfError, UsageError

if TYPE_CHECKING:
    from dmf.api.client import SchedulerClient

DEFAULT_URL = "http://127.0.0.1:8080"
PHASES = ("pre-sync", "cutover")
STATUSES = ("QUEUED", "RUNNING", "SUCCESS", "FAILURE", "CANCELLED")
JOB_COLUMNS = ("id", "target", "uid", "source", "phase", "priority", "status", "attempts",
               "backend", "submitted")


def _read_secret(path: str) -> str:
    """A secret file's first line (`-`: stdin), without its line end."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return text.splitlines()[0] if text else ""


def add_scheduler_options(parser: Parser) -> None:
    """The connection options every scheduler client command takes, read by `connect`."""
    environ = os.environ
    parser.add_argument("--url", default=environ.get("DMF_SCHEDULER_URL") or DEFAULT_URL,
                        help="Scheduler base URL [env DMF_SCHEDULER_URL] "
                             f"(default: {DEFAULT_URL}).")
    parser.add_argument("--user", default=environ.get("DMF_SCHEDULER_USER") or None,
                        help="Admin user (http.admin.username) [env DMF_SCHEDULER_USER].")
    parser.add_argument("--password-file", type=file_path(allow_dash=True),
                        help="File holding the admin password (- for stdin); otherwise "
                             "DMF_SCHEDULER_PASSWORD or a prompt.")
    parser.add_argument("--cacert", default=environ.get("DMF_SCHEDULER_CACERT") or None,
                        type=file_path(exists=True),
                        help="PEM CA bundle that signed the scheduler's certificate.")


def connect(args: Namespace) -> SchedulerClient:
    """The client of the options of `add_scheduler_options`, asking for the password last."""
    from dmf.api.client import SchedulerClient, SchedulerEndpoint

    password = None
    if args.user is not None:
        if args.password_file is not None:
            password = _read_secret(args.password_file)
        else:
            password = os.environ.get("DMF_SCHEDULER_PASSWORD") or _prompt_password(args.user)
    return SchedulerClient(SchedulerEndpoint(args.url, args.user, password, args.cacert))


def _prompt_password(user: str) -> str:
    """On the terminal, unechoed; from stdin when there is no terminal (a script's pipe)."""
    import getpass

    while True:  # an empty answer is asked again on a terminal, refused from a pipe
        try:
            password = getpass.getpass(f"Password for {user}: ", stream=sys.stderr)
        except EOFError:
            raise DmfError(f"Password for {user}: no input") from None
        if password:
            return password
        if not sys.stdin.isatty():
            raise DmfError(f"Password for {user}: empty input")


def print_rows(options: GlobalOptions, columns: tuple[str, ...],
               rows: list[dict[str, Any]]) -> None:
    """Listings in the global `-f` format (default `table`; `json` prints the objects)."""
    from dmf.cli.formatters import Column, make_printer

    kind = options.formatter or "table"
    if kind == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False), flush=True)
        return
    printer = make_printer(kind, [Column(c) for c in columns], sys.stdout)
    for row in rows:
        printer.row(["" if row.get(c) is None else str(row[c]) for c in columns])
    printer.flush()


def configure(parser: Parser) -> None:
    parser.description = "Submit and manage migration jobs on the scheduler."
    commands = parser.add_commands()
    command = add_command(commands, "submit", submit)
    add = command.add_argument
    add("-t", "--target", default="default", help="(default: default)")
    add("-u", "--uid", help="The user's name on the target.")
    add("--source", help="The source platform's name.")
    add("--ruid", help="The user's name on the source (default: uid).")
    add("--email")
    add("--source-host", help="A host registered for the source.")
    add("--source-password-file", type=file_path(allow_dash=True),
        help="File holding the user's source password (- for stdin).")
    add("--imapcoptions")
    add("--exclude")
    add("--phase", choices=PHASES, default="pre-sync", help="(default: pre-sync)")
    add("--priority", type=int, default=0, help="Higher runs first. (default: 0)")
    add("--csv", dest="csv_file", type=file_path(exists=True),
        help="Submit every row of a CSV instead (header: uid,source,... see the API).")
    add_scheduler_options(command)

    command = add_command(commands, "list", list_jobs)
    add = command.add_argument
    add("-t", "--target")
    add("--status", dest="statuses", action="append", default=[], choices=STATUSES,
        help="Repeatable.")
    add("--phase", choices=PHASES)
    add("--source")
    add("-u", "--uid")
    add("--backend")
    add("--offset", type=int_range(0), default=0, help="(default: 0)")
    add("--limit", type=int_range(1, 1000), default=100, help="(default: 100)")
    add_scheduler_options(command)

    command = add_command(commands, "show", show)
    command.add_argument("job_id", type=int_range(1), metavar="JOB_ID")
    add_scheduler_options(command)
    for name, run in (("cancel", cancel), ("requeue", requeue)):
        command = add_command(commands, name, run)
        command.add_argument("job_ids", nargs="+", type=int_range(1), metavar="JOB_ID")
        add_scheduler_options(command)


@guarded
def submit(options: GlobalOptions, args: Namespace) -> int:
    """Queue one user (-u and --source), or all users of a CSV (--csv); prints the job ids."""
    with connect(args) as client:
        if args.csv_file is not None:
            if args.uid or args.source:
                raise UsageError("--csv and -u/--source exclude each other")
            result = client.submit_csv(Path(args.csv_file), args.target)
            print("\n".join(str(job_id) for job_id in result["ids"]), flush=True)
            return 0
        if not args.uid or not args.source:
            raise UsageError("-u UID and --source SOURCE are required (or --csv FILE)")
        submission: dict[str, Any] = {
            "target": args.target, "uid": args.uid, "source": args.source, "ruid": args.ruid,
            "email": args.email, "sourceHost": args.source_host,
            "imapcoptions": args.imapcoptions, "exclude": args.exclude, "phase": args.phase,
            "priority": args.priority,
        }
        if args.source_password_file is not None:
            submission["password"] = _read_secret(args.source_password_file)
        job = client.submit_job({k: v for k, v in submission.items() if v is not None})
    print(job["id"], flush=True)
    return 0


@guarded
def list_jobs(options: GlobalOptions, args: Namespace) -> int:
    """List jobs, newest first; the total matching is printed on stderr."""
    with connect(args) as client:
        page = client.list_jobs({"target": args.target, "status": args.statuses,
                                 "phase": args.phase, "source": args.source, "uid": args.uid,
                                 "backend": args.backend, "offset": args.offset,
                                 "limit": args.limit})
    print_rows(options, JOB_COLUMNS, page["items"])
    print(f"{len(page['items'])} of {page['total']} jobs (offset {page['offset']})",
          file=sys.stderr, flush=True)
    return 0


@guarded
def show(options: GlobalOptions, args: Namespace) -> int:
    """Print one job with its details array as JSON."""
    with connect(args) as client:
        job = client.get_job(args.job_id)
    print(json.dumps(job, indent=2, ensure_ascii=False), flush=True)
    return 0


def _each_job(args: Namespace, action: str) -> int:
    with connect(args) as client:
        for job_id in args.job_ids:
            job = getattr(client, f"{action}_job")(job_id)
            cancelling = " (cancel requested)" if job.get("cancelRequested") else ""
            print(f"{job['id']}\t{job['status']}{cancelling}", flush=True)
    return 0


@guarded
def cancel(options: GlobalOptions, args: Namespace) -> int:
    """Cancel queued jobs; running ones are stopped by their worker."""
    return _each_job(args, "cancel")


@guarded
def requeue(options: GlobalOptions, args: Namespace) -> int:
    """Queue finished jobs again."""
    return _each_job(args, "requeue")
