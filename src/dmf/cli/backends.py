"""`dmf backends list|pause|start|stop|set-max`: the seed's backends API (section 2.3) for
operators without curl. A backend is named `target/memberid`, as the worker registers it;
the target is the part before the slash."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from dmf.cli.context import GlobalOptions
from dmf.cli.jobs import add_scheduler_options, connect, print_rows
from dmf.cli.parsing import Parser, add_command, int_range
from dmf.cli.run import guarded
from dmf.errors import UsageError

BACKEND_COLUMNS = ("name", "status", "threads", "maxThreads", "initialState", "command",
                   "updated", "heartbeat")
STATUS_NAMES = {0: "STOPPED", 1: "STARTED", 2: "PAUSED", 3: "STOPPING"}


def _target_of(name: str) -> str:
    target, slash, memberid = name.partition("/")
    if not slash or not target or not memberid:
        raise UsageError(f"backend {name!r}: expected target/memberid, e.g. cloud/1")
    return target


def _shown(backend: dict[str, Any]) -> dict[str, Any]:
    return {**backend, "status": STATUS_NAMES.get(backend["status"], backend["status"]),
            "initialState": STATUS_NAMES.get(backend["initialState"],
                                             backend["initialState"])}


def configure(parser: Parser) -> None:
    parser.description = "Watch and steer the workers registered with the scheduler."
    commands = parser.add_commands()
    command = add_command(commands, "list", list_backends)
    command.add_argument("-t", "--target", default="default", help="(default: default)")
    add_scheduler_options(command)
    for name, run in (("pause", pause), ("start", start), ("stop", stop)):
        command = add_command(commands, name, run)
        command.add_argument("name", metavar="NAME")
        add_scheduler_options(command)
    command = add_command(commands, "set-max", set_max)
    command.add_argument("name", metavar="NAME")
    command.add_argument("max_threads", type=int_range(0, 100_000), metavar="MAX_THREADS")
    add_scheduler_options(command)


@guarded
def list_backends(options: GlobalOptions, args: Namespace) -> int:
    """The target's workers with their state, running jobs and max threads."""
    with connect(args) as client:
        backends = client.list_backends(args.target)
    print_rows(options, BACKEND_COLUMNS, [_shown(b) for b in backends])
    return 0


def _send(args: Namespace, order: str) -> int:
    with connect(args) as client:
        backend = client.patch_backend(_target_of(args.name), args.name, command=order)
    print(f"{backend['name']}\t{order} sent", flush=True)
    return 0


@guarded
def pause(options: GlobalOptions, args: Namespace) -> int:
    """Stop taking new jobs; running jobs go on."""
    return _send(args, "PAUSE")


@guarded
def start(options: GlobalOptions, args: Namespace) -> int:
    """Take jobs again."""
    return _send(args, "START")


@guarded
def stop(options: GlobalOptions, args: Namespace) -> int:
    """Stop taking jobs and shut the worker down once its jobs end."""
    return _send(args, "STOP")


@guarded
def set_max(options: GlobalOptions, args: Namespace) -> int:
    """Change how many jobs the worker runs at once."""
    with connect(args) as client:
        backend = client.patch_backend(_target_of(args.name), args.name,
                                       maxThreads=args.max_threads)
    print(f"{backend['name']}\tmaxThreads {backend['maxThreads']}", flush=True)
    return 0
