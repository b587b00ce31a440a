"""A transform run to be killed: ``python -m jira_pipeline_tests.chaos.transform_worker ROOT
upsert KEY…`` or ``… ROOT rebuild``. It imports everything, prints ``ready``, waits for a line
on stdin and only then starts, so the parent's random kill time falls inside the real work
rather than inside interpreter start-up."""

from __future__ import annotations

import sys
from pathlib import Path

from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline.transform.upsert import upsert_issues


def main(argv: list[str]) -> int:
    root, operation, keys = DataRoot(Path(argv[0])), argv[1], argv[2:]
    print("ready", flush=True)
    sys.stdin.readline()
    if operation == "upsert":
        upsert_issues(root, keys)
    elif operation == "rebuild":
        rebuild_all(root, progress=False)
    else:
        raise SystemExit(f"unknown operation {operation!r}")
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
