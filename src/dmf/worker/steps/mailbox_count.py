"""The count steps: "count local mailbox pre sync", "count local mailbox post sync" and "count
remote mailbox" (seed 3.8). Each runs a `mailbox status -f tab "messages vsize"` command and adds
to the seed's command fields:
- `messages`: the number of messages over all listed mailboxes,
- `size`: their total virtual size in bytes (`vsize`, CRLF line ends, as IMAP counts).
A mailbox listed twice by the patterns (`INBOX/* INBOX *`) is counted once when the output has a
`mailbox` column.

The remote command is, first found: `count.remote-command` (configuration overrides all; its
formatter, debug / verbosity flags and field list are forced, `commands.count_command`), the
source host's status command (split like a shell line, then injected), the default of
`count.remote-protocol` (imapc or doveadm).
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

from dmf.errors import ConfigError
from dmf.worker import commands
from dmf.worker.steps.runtime import StepRuntime

log = logging.getLogger(__name__)

LOCAL_PRE = "count local mailbox pre sync"
LOCAL_POST = "count local mailbox post sync"
REMOTE = "count remote mailbox"


def parse_status_tab(lines: list[str]) -> tuple[int, int]:
    """(messages, bytes) from `mailbox status -f tab` output: a header row naming the columns,
    then one row per mailbox."""
    rows = [line.split("\t") for line in lines if line.strip()]
    if not rows:
        raise ValueError("no output")
    header = [name.strip() for name in rows[0]]
    if "messages" not in header or "vsize" not in header:
        raise ValueError(f"no messages and vsize columns in the header {rows[0]!r}")
    messages_at, vsize_at = header.index("messages"), header.index("vsize")
    mailbox_at = header.index("mailbox") if "mailbox" in header else None
    seen: set[str] = set()
    messages = size = 0
    for number, row in enumerate(rows[1:], start=2):
        if mailbox_at is not None and mailbox_at < len(row):
            if row[mailbox_at] in seen:
                continue
            seen.add(row[mailbox_at])
        try:
            messages += int(row[messages_at])
            size += int(row[vsize_at])
        except (IndexError, ValueError):
            raise ValueError(f"row {number} is not a count: {row!r}") from None
    return messages, size


async def _count(runtime: StepRuntime, step: str, argv: list[str]) -> dict[str, Any]:
    result = await runtime.run(step, argv)
    entry = result.entry()
    if not result.success:
        return entry
    try:
        messages, size = parse_status_tab(result.stdout)
    except ValueError as exc:
        entry["success"] = False
        entry["errors"].append(f"unreadable mailbox status output: {exc}")
        return entry
    entry.update(messages=messages, size=size)
    return entry


async def run_local_count(runtime: StepRuntime, step: str) -> dict[str, Any]:
    entry = await _count(runtime, step, commands.local_status(runtime.doveadm,
                                                              runtime.context.uid))
    if entry["success"]:
        when = "before" if step == LOCAL_PRE else "after"
        log.info("job %s: destination system statistics %s sync. messages: %d, size: %d "
                 "(bytes)", runtime.context.job_id, when, entry["messages"], entry["size"])
    return entry


def remote_count_argv(runtime: StepRuntime) -> list[str]:
    count, context = runtime.settings.count, runtime.context
    if count.remote_command is not None:
        return runtime.render(commands.count_command(count.remote_command))
    if context.source_status_command:
        return [runtime.injector.expand(item)
                for item in shlex.split(context.source_status_command)]
    if count.remote_protocol == "doveadm":
        if not runtime.settings.doveadm.host:
            raise ConfigError("count.remote-protocol doveadm needs doveadm.host")
        return commands.remote_status_doveadm(runtime.doveadm, context, runtime.settings)
    if not (context.source_host or runtime.settings.imapc.host):
        raise ConfigError("count.remote-protocol imapc needs a source host: the job has none "
                          "and imapc.host is not set")
    return commands.remote_status_imapc(runtime.doveadm, context, runtime.settings)


async def run_remote_count(runtime: StepRuntime) -> dict[str, Any]:
    return await _count(runtime, REMOTE, remote_count_argv(runtime))
