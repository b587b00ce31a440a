"""``jira-pipeline raw show KEY`` and ``jira-pipeline raw migrate``: the raw store's records
are compressed, so this is how a person reads one."""

from __future__ import annotations

import argparse
import sys

import orjson

from jira_pipeline.config import load_settings
from jira_pipeline.core.keys import is_valid_issue_key
from jira_pipeline.storage.paths import DataRoot


def register(subparsers: argparse._SubParsersAction) -> None:
    raw = subparsers.add_parser(
        "raw", help="read the raw issue store",
        description="The raw store keeps one zstd-compressed JSON record per issue in "
                    "raw/jira/issues/PROJECT/BUCKET/KEY.json.zst.",
    )
    actions = raw.add_subparsers(dest="raw_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print one issue's stored record as JSON")
    show.add_argument("key", help="issue key, e.g. SUP-42")
    show.add_argument("--compact", action="store_true", help="one line instead of indented")
    show.set_defaults(func=run_show)
    migrate = actions.add_parser(
        "migrate", help="rewrite records of the earlier layout (issues/KEY.json) in the current one",
    )
    migrate.set_defaults(func=run_migrate)


def run_show(args: argparse.Namespace) -> int:
    from jira_pipeline.storage.raw_format import UnreadableRecord
    from jira_pipeline.storage.raw_store import read_record_json

    if not is_valid_issue_key(args.key):
        print(f"not an issue key: {args.key!r:.80}", file=sys.stderr)
        return 2
    root = DataRoot(load_settings().data_root)
    try:
        text = read_record_json(root, args.key)
        record = None if text is None else orjson.loads(text)
    except (UnreadableRecord, orjson.JSONDecodeError) as exc:
        print(f"{args.key}: stored record is unreadable ({exc})", file=sys.stderr)
        return 1
    if record is None:
        print(f"{args.key}: not in the raw store", file=sys.stderr)
        return 1
    option = 0 if args.compact else orjson.OPT_INDENT_2
    sys.stdout.buffer.write(orjson.dumps(record, option=option) + b"\n")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from jira_pipeline.storage.raw_store import migrate_issue_files

    moved = migrate_issue_files(DataRoot(load_settings().data_root))
    print(f"migrated {moved} issue records to raw/jira/issues/PROJECT/BUCKET/KEY.json.zst")
    return 0
