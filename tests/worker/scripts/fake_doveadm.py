#!/usr/bin/env python3
"""A stand-in for doveadm/dmf in job run tests, driven by the JSON plan named by $FAKE_DOVEADM_PLAN.

Every call appends one JSON line to plan["record"]: argv, the DMF_SETTING_* environment, the text
of a `-c /dev/fd/N` file and the pid, then behaves by sub-command:
- `backup`: attempt n (counted in plan["counter"]) prints plan["backup_lines"][n] to stderr and
  exits plan["backup_exits"][n] (the last entry repeats);
- `mailbox status`: a tab table from plan["remote_rows"] (with `-o mail=imapc:`) or
  plan["local_rows"]; `user -f home`: plan["home"]; `mailbox path`: plan["inbox"];
- anything else (pre/post/failure/metacache): exit plan["exits"][first word] or 0.
plan["hold"] seconds are slept before exiting, so a test can read /proc/<pid>/cmdline.
"""

import json
import os
import sys
import time

VALUED = {"-o", "-f", "-c", "-i"}


def main() -> int:
    with open(os.environ["FAKE_DOVEADM_PLAN"], encoding="utf-8") as handle:
        plan = json.load(handle)
    args = sys.argv[1:]
    globals_, position = [], 0
    while position < len(args) and args[position].startswith("-"):
        take = 2 if args[position] in VALUED else 1
        globals_ += args[position:position + take]
        position += take
    words = args[position:]
    config = None
    if "-c" in globals_:
        path = globals_[globals_.index("-c") + 1]
        if path.startswith("/dev/fd/"):
            with open(path, encoding="utf-8") as handle:
                config = handle.read()
    record = {"argv": sys.argv, "pid": os.getpid(), "config": config,
              "settings_env": {key: value for key, value in os.environ.items()
                               if key.startswith("DMF_SETTING_")}}
    with open(plan["record"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    code = run(plan, globals_, words)
    time.sleep(plan.get("hold", 0))
    return code


def run(plan: dict, globals_: list, words: list) -> int:
    if words[:1] == ["backup"]:
        attempt = 0
        if os.path.exists(plan["counter"]):
            with open(plan["counter"], encoding="utf-8") as handle:
                attempt = int(handle.read())
        with open(plan["counter"], "w", encoding="utf-8") as handle:
            handle.write(str(attempt + 1))
        lines = plan.get("backup_lines", [])
        for line in lines[min(attempt, len(lines) - 1)] if lines else []:
            print(line, file=sys.stderr, flush=True)
        exits = plan.get("backup_exits", [0])
        return exits[min(attempt, len(exits) - 1)]
    if words[:2] == ["mailbox", "status"]:
        rows = plan["remote_rows"] if "mail=imapc:" in globals_ else plan["local_rows"]
        print("mailbox\tmessages\tvsize")
        for row in rows:
            print("\t".join(str(item) for item in row))
        return plan.get("exits", {}).get("status", 0)
    if words[:1] == ["user"]:
        print(plan["home"])
        return 0
    if words[:2] == ["mailbox", "path"]:
        print(plan["inbox"])
        return 0
    key = words[0] if words else ""
    if key in plan.get("stderr", {}):
        print(plan["stderr"][key], file=sys.stderr)
    return plan.get("exits", {}).get(key, 0)


if __name__ == "__main__":
    sys.exit(main())
