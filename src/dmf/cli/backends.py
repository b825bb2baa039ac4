"""`dmf backends list|pause|start|stop|set-max`: the seed's backends API (section 2.3) for
operators without curl. A backend is named `target/memberid`, as the worker registers it;
the target is the part before the slash."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from dmf.cli.context import GlobalOptions
from dmf.cli.jobs import print_rows, scheduler_options
from dmf.cli.run import guarded

if TYPE_CHECKING:
    from dmf.api.client import SchedulerClient

BACKEND_COLUMNS = ("name", "status", "threads", "maxThreads", "initialState", "command",
                   "updated", "heartbeat")
STATUS_NAMES = {0: "STOPPED", 1: "STARTED", 2: "PAUSED", 3: "STOPPING"}


def _target_of(name: str) -> str:
    target, slash, memberid = name.partition("/")
    if not slash or not target or not memberid:
        raise click.UsageError(f"backend {name!r}: expected target/memberid, e.g. cloud/1")
    return target


def _shown(backend: dict[str, Any]) -> dict[str, Any]:
    return {**backend, "status": STATUS_NAMES.get(backend["status"], backend["status"]),
            "initialState": STATUS_NAMES.get(backend["initialState"],
                                             backend["initialState"])}


@click.group("backends")
def backends() -> None:
    """Watch and steer the workers registered with the scheduler."""


@backends.command("list")
@click.option("-t", "--target", default="default", show_default=True)
@scheduler_options
@click.pass_obj
@guarded
def list_backends(options: GlobalOptions | None, client: SchedulerClient, target: str) -> None:
    """The target's workers with their state, running jobs and max threads."""
    print_rows(options, BACKEND_COLUMNS, [_shown(b) for b in client.list_backends(target)])


def _command(order: str, help_text: str) -> click.Command:
    @click.argument("name")
    @scheduler_options
    @guarded
    def send(client: SchedulerClient, name: str) -> None:
        backend = client.patch_backend(_target_of(name), name, command=order)
        click.echo(f"{backend['name']}\t{order} sent")

    send.__doc__ = help_text
    return backends.command(order.lower())(send)


_command("PAUSE", "Stop taking new jobs; running jobs go on.")
_command("START", "Take jobs again.")
_command("STOP", "Stop taking jobs and shut the worker down once its jobs end.")


@backends.command("set-max")
@click.argument("name")
@click.argument("max_threads", type=click.IntRange(0, 100_000))
@scheduler_options
@guarded
def set_max(client: SchedulerClient, name: str, max_threads: int) -> None:
    """Change how many jobs the worker runs at once."""
    backend = client.patch_backend(_target_of(name), name, maxThreads=max_threads)
    click.echo(f"{backend['name']}\tmaxThreads {backend['maxThreads']}")
