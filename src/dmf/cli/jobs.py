"""`dmf jobs submit|list|show|cancel|requeue`: the scheduler's job API for operators without curl.

Where the scheduler is and who asks: `--url` / `DMF_SCHEDULER_URL`, `--user` /
`DMF_SCHEDULER_USER`, and the password from `DMF_SCHEDULER_PASSWORD`, `--password-file`, or a
prompt: never from argv, where `ps` would show it. The same holds for a submitted user's
source password (`--source-password-file`, `-` for stdin).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dmf.cli.context import GlobalOptions
from dmf.cli.run import guarded

if TYPE_CHECKING:
    from dmf.api.client import SchedulerClient

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_URL = "http://127.0.0.1:8080"
PHASES = ("pre-sync", "cutover")
STATUSES = ("QUEUED", "RUNNING", "SUCCESS", "FAILURE", "CANCELLED")
JOB_COLUMNS = ("id", "target", "uid", "source", "phase", "priority", "status", "attempts",
               "backend", "submitted")


def _read_secret(path: str) -> str:
    """A secret file's first line (`-`: stdin), without its line end."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return text.splitlines()[0] if text else ""


def scheduler_options(command: F) -> F:
    """The connection options every scheduler client command takes; passes `client`."""

    @click.option("--url", envvar="DMF_SCHEDULER_URL", default=DEFAULT_URL,
                  show_default=True, help="Scheduler base URL [env DMF_SCHEDULER_URL].")
    @click.option("--user", envvar="DMF_SCHEDULER_USER",
                  help="Admin user (http.admin.username) [env DMF_SCHEDULER_USER].")
    @click.option("--password-file", type=click.Path(dir_okay=False, allow_dash=True),
                  help="File holding the admin password (- for stdin); otherwise "
                       "DMF_SCHEDULER_PASSWORD or a prompt.")
    @click.option("--cacert", envvar="DMF_SCHEDULER_CACERT",
                  type=click.Path(dir_okay=False, exists=True),
                  help="PEM CA bundle that signed the scheduler's certificate.")
    @functools.wraps(command)
    def wrapper(*args: Any, url: str, user: str | None, password_file: str | None,
                cacert: str | None, **kwargs: Any) -> Any:
        from dmf.api.client import SchedulerClient, SchedulerEndpoint

        password = None
        if user is not None:
            if password_file is not None:
                password = _read_secret(password_file)
            else:
                password = os.environ.get("DMF_SCHEDULER_PASSWORD") \
                    or click.prompt(f"Password for {user}", hide_input=True, err=True)
        with SchedulerClient(SchedulerEndpoint(url, user, password, cacert)) as client:
            return command(*args, client=client, **kwargs)

    return wrapper  # type: ignore[return-value]


def print_rows(options: GlobalOptions | None, columns: tuple[str, ...],
               rows: list[dict[str, Any]]) -> None:
    """Listings in the global `-f` format (default `table`; `json` prints the objects)."""
    from dmf.cli.formatters import Column, make_printer

    kind = (options.formatter if options else None) or "table"
    if kind == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    printer = make_printer(kind, [Column(c) for c in columns], sys.stdout)
    for row in rows:
        printer.row(["" if row.get(c) is None else str(row[c]) for c in columns])
    printer.flush()


@click.group("jobs")
def jobs() -> None:
    """Submit and manage migration jobs on the scheduler."""


@jobs.command("submit")
@click.option("-t", "--target", default="default", show_default=True)
@click.option("-u", "--uid", help="The user's name on the target.")
@click.option("--source", help="The source platform's name.")
@click.option("--ruid", help="The user's name on the source (default: uid).")
@click.option("--email")
@click.option("--source-host", help="A host registered for the source.")
@click.option("--source-password-file", type=click.Path(dir_okay=False, allow_dash=True),
              help="File holding the user's source password (- for stdin).")
@click.option("--imapcoptions")
@click.option("--exclude")
@click.option("--phase", type=click.Choice(PHASES), default="pre-sync", show_default=True)
@click.option("--priority", type=int, default=0, show_default=True,
              help="Higher runs first.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Submit every row of a CSV instead (header: uid,source,... see the API).")
@scheduler_options
@guarded
def submit(client: SchedulerClient, target: str, uid: str | None, source: str | None,
           ruid: str | None, email: str | None, source_host: str | None,
           source_password_file: str | None, imapcoptions: str | None, exclude: str | None,
           phase: str, priority: int, csv_file: Path | None) -> None:
    """Queue one user (-u and --source), or all users of a CSV (--csv); prints the job ids."""
    if csv_file is not None:
        if uid or source:
            raise click.UsageError("--csv and -u/--source exclude each other")
        result = client.submit_csv(csv_file, target)
        click.echo("\n".join(str(job_id) for job_id in result["ids"]))
        return
    if not uid or not source:
        raise click.UsageError("-u UID and --source SOURCE are required (or --csv FILE)")
    submission: dict[str, Any] = {
        "target": target, "uid": uid, "source": source, "ruid": ruid, "email": email,
        "sourceHost": source_host, "imapcoptions": imapcoptions, "exclude": exclude,
        "phase": phase, "priority": priority,
    }
    if source_password_file is not None:
        submission["password"] = _read_secret(source_password_file)
    job = client.submit_job({k: v for k, v in submission.items() if v is not None})
    click.echo(job["id"])


@jobs.command("list")
@click.option("-t", "--target")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
              help="Repeatable.")
@click.option("--phase", type=click.Choice(PHASES))
@click.option("--source")
@click.option("-u", "--uid")
@click.option("--backend")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@scheduler_options
@click.pass_obj
@guarded
def list_jobs(options: GlobalOptions | None, client: SchedulerClient, target: str | None,
              statuses: tuple[str, ...], phase: str | None, source: str | None,
              uid: str | None, backend: str | None, offset: int, limit: int) -> None:
    """List jobs, newest first; the total matching is printed on stderr."""
    page = client.list_jobs({"target": target, "status": list(statuses), "phase": phase,
                             "source": source, "uid": uid, "backend": backend,
                             "offset": offset, "limit": limit})
    print_rows(options, JOB_COLUMNS, page["items"])
    click.echo(f"{len(page['items'])} of {page['total']} jobs (offset {page['offset']})",
               err=True)


@jobs.command("show")
@click.argument("job_id", type=click.IntRange(1))
@scheduler_options
@guarded
def show(client: SchedulerClient, job_id: int) -> None:
    """Print one job with its details array as JSON."""
    click.echo(json.dumps(client.get_job(job_id), indent=2, ensure_ascii=False))


def _each_job(action: str) -> Callable[[SchedulerClient, tuple[int, ...]], None]:
    def run(client: SchedulerClient, job_ids: tuple[int, ...]) -> None:
        for job_id in job_ids:
            job = getattr(client, f"{action}_job")(job_id)
            cancelling = " (cancel requested)" if job.get("cancelRequested") else ""
            click.echo(f"{job['id']}\t{job['status']}{cancelling}")

    return run


@jobs.command("cancel")
@click.argument("job_ids", nargs=-1, required=True, type=click.IntRange(1))
@scheduler_options
@guarded
def cancel(client: SchedulerClient, job_ids: tuple[int, ...]) -> None:
    """Cancel queued jobs; running ones are stopped by their worker."""
    _each_job("cancel")(client, job_ids)


@jobs.command("requeue")
@click.argument("job_ids", nargs=-1, required=True, type=click.IntRange(1))
@scheduler_options
@guarded
def requeue(client: SchedulerClient, job_ids: tuple[int, ...]) -> None:
    """Queue finished jobs again."""
    _each_job("requeue")(client, job_ids)
