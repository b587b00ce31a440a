"""``jira-pipeline demo`` (``make demo``): the whole pipeline on one machine, no Jira account.

Starts a simulated Jira Cloud (in this process), the webhook receiver under its production
server, and ``dagster dev`` (UI + daemon, sensors and schedules on) on 127.0.0.1:3000;
launches a Dagster backfill of every month the simulator has, then streams signed webhooks
until Ctrl-C, which stops every process it started. The webhook secret is random per demo,
handed to the receiver through its environment and never printed."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import requests

from jira_pipeline.sandbox.processes import (
    COMMITTED_DAGSTER_YAML,
    PROJECT_ROOT,
    WORKSPACE_YAML,
    prepare_dagster_home,
    start_process_group,
    stop_process_group,
    tail,
    venv_script,
    wait_http_ok,
)
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.sandbox.simulator.webhooks import send_webhooks
from jira_pipeline.storage.paths import DataRoot

UI_HOST, UI_PORT = "127.0.0.1", 3000
BACKFILL_MUTATION = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL_STATUS_QUERY = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status }
  }
}
"""
BACKFILL_SUCCEEDED = frozenset({"COMPLETED", "COMPLETED_SUCCESS"})
BACKFILL_ENDED = BACKFILL_SUCCEEDED | {"COMPLETED_FAILED", "FAILED", "CANCELED"}


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="simulated Jira + webhook receiver + Dagster UI on http://127.0.0.1:3000",
        description="Run the whole pipeline against a simulated Jira; Ctrl-C stops it all.",
    )
    demo.add_argument("--issues", type=int, default=400, help="simulated issues (default 400)")
    demo.add_argument("--months", type=int, default=12,
                      help="months of history, this one included (default 12)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--rate", type=float, default=1.0, help="webhooks per second (default 1)")
    demo.add_argument("--data-root", type=Path, default=PROJECT_ROOT / "data" / "demo",
                      help="data root of the demo (default data/demo)")
    demo.add_argument("--port", type=int, default=UI_PORT, help="Dagster UI port (default 3000)")
    demo.set_defaults(func=run_demo)


def demo_months(months: int, now: datetime | None = None) -> list[str]:
    """The simulator's window: ``months`` whole months ending with the current one."""
    now = now or datetime.now(UTC)
    total = now.year * 12 + now.month - 1
    return [f"{(total - i) // 12:04d}-{(total - i) % 12 + 1:02d}" for i in range(months - 1, -1, -1)]


DEMO_MARKER = ".jira-pipeline-demo"


def fresh_demo_root(data_root: Path) -> Path:
    """Empty the demo's data root (the simulator starts over each time, so yesterday's
    mirror and inbox would not match it). Only a folder the demo created is removed."""
    if data_root.exists():
        if not (data_root / DEMO_MARKER).is_file():
            raise SystemExit(f"{data_root} exists and is not a demo data root; pass --data-root")
        shutil.rmtree(data_root)
    data_root.mkdir(parents=True)
    (data_root / DEMO_MARKER).write_text("created by `jira-pipeline demo`; removed by the next\n")
    return data_root


def launch_backfill(ui_url: str, partition_keys: list[str], title: str) -> str:
    """Launch a Dagster asset backfill of the month assets over ``partition_keys`` through
    the webserver's GraphQL API (so the UI shows it); returns the backfill id."""
    # Imported here: every `jira-pipeline` command loads this module, few need Dagster.
    from jira_pipeline.defs.assets import MONTH_SPECS

    params = {
        "assetSelection": [{"path": spec.key.path} for spec in MONTH_SPECS],
        "partitionNames": partition_keys,
        "title": title,
    }
    result = _graphql(ui_url, BACKFILL_MUTATION, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill refused: {result.get('message', result['__typename'])}")
    return result["backfillId"]


def _graphql(ui_url: str, query: str, variables: dict) -> dict:
    """The ``data`` of one query to the webserver's GraphQL API."""
    response = requests.post(
        f"{ui_url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    response.raise_for_status()
    return response.json()["data"]


def backfill_status(ui_url: str, backfill_id: str) -> str:
    """The backfill's ``BulkActionStatus`` (``REQUESTED`` while its runs go on)."""
    query = {"backfillId": backfill_id}
    result = _graphql(ui_url, BACKFILL_STATUS_QUERY, query)["partitionBackfillOrError"]
    return result.get("status") or result["__typename"]


class ReportWhenDone:
    """Draws the report charts once the demo's backfill has ended well (asked between
    webhook batches), and says where they are."""

    def __init__(self, ui_url: str, backfill_id: str, data_root: Path) -> None:
        self.ui_url, self.backfill_id, self.data_root = ui_url, backfill_id, data_root
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        status = backfill_status(self.ui_url, self.backfill_id)
        if status not in BACKFILL_ENDED:
            return
        self.done = True
        if status not in BACKFILL_SUCCEEDED:
            print(f"backfill ended {status}: no report drawn (see the Dagster UI)", flush=True)
            return
        from jira_pipeline.analytics.report import write_report  # matplotlib: only here

        charts = write_report(DataRoot(self.data_root), self.data_root / "report")
        print("backfill done; report charts:\n" + "\n".join(f"  {p}" for p in charts),
              flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_demo(args: argparse.Namespace) -> int:
    months = demo_months(args.months)
    data_root = fresh_demo_root(args.data_root.resolve())
    logs = data_root / "logs"
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
    if not (dagster_home / "dagster.yaml").is_file():
        prepare_dagster_home(dagster_home, COMMITTED_DAGSTER_YAML)
    secret = secrets.token_urlsafe(32)
    ui_url = f"http://{UI_HOST}:{args.port}"
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(signum, _interrupt)

    with ExitStack() as stack:
        # History in the past months; issues created by the webhooks land in this month.
        jira = SimulatedJira(seed=args.seed, issues=args.issues,
                             start_month=months[0], months=max(len(months) - 1, 1))
        simulator = SimulatorServer(jira, port=0)
        simulator.start()
        stack.callback(simulator.stop)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("JIRA_")},
            **simulator.env(),
            "JIRA_DATA_ROOT": str(data_root),
            "JIRA_START_MONTH": months[0],
            "JIRA_WEBHOOK_SECRET": secret,
            "DAGSTER_HOME": str(dagster_home),
        }
        receiver_port = _free_port()
        receiver = start_process_group(
            [venv_script("jira-pipeline"), "receiver", "--host", "127.0.0.1",
             "--port", str(receiver_port)],
            env=env, log_path=logs / "receiver.log",
        )
        stack.callback(stop_process_group, receiver)
        dagster = start_process_group(
            [venv_script("dagster"), "dev", "-w", str(WORKSPACE_YAML),
             "-h", UI_HOST, "-p", str(args.port)],
            env={k: v for k, v in env.items() if k != "JIRA_WEBHOOK_SECRET"},
            log_path=logs / "dagster.log",
        )
        stack.callback(stop_process_group, dagster, 30.0)
        receiver_url = f"http://127.0.0.1:{receiver_port}"
        try:
            print(f"simulated Jira: {simulator.base_url} ({args.issues} issues, "
                  f"{months[0]} … {months[-1]})", flush=True)
            wait_http_ok(f"{receiver_url}/webhooks/jira/health", timeout=60, process=receiver)
            print(f"webhook receiver: {receiver_url}/webhooks/jira (gunicorn)", flush=True)
            print("starting Dagster (UI + daemon)…", flush=True)
            wait_http_ok(f"{ui_url}/server_info", timeout=180, process=dagster)
            backfill_id = launch_backfill(ui_url, months, "demo: every simulated month")
            _print_banner(ui_url, backfill_id, data_root, logs)
            _stream_webhooks(f"{receiver_url}/webhooks/jira", secret, jira, args.rate, args.seed,
                             ReportWhenDone(ui_url, backfill_id, data_root))
        except KeyboardInterrupt:
            for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not
                signal.signal(signum, signal.SIG_IGN)  # cut the cleanup short
            print("\nstopping the demo…", flush=True)
        except (RuntimeError, TimeoutError) as exc:
            print(f"demo failed: {exc}\n--- dagster log ---\n{tail(logs / 'dagster.log')}\n"
                  f"--- receiver log ---\n{tail(logs / 'receiver.log')}", file=sys.stderr)
            return 1
    print("demo stopped: simulator, receiver and Dagster are down.", flush=True)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_banner(ui_url: str, backfill_id: str, data_root: Path, logs: Path) -> None:
    issues_glob = data_root / "parquet" / "jira" / "issues" / "*.parquet"
    query = (f"SELECT status, count(*) AS issues FROM read_parquet('{issues_glob}') "
             "GROUP BY ALL ORDER BY issues DESC")
    print(
        f"\nDagster UI:     {ui_url}  (backfill {backfill_id}: {ui_url}/runs/b/{backfill_id})\n"
        f"Parquet tables: {data_root / 'parquet' / 'jira'}/<table>/YYYY-MM.parquet\n"
        f"DuckDB:         {venv_script('python')} -c \"import duckdb; "
        f"duckdb.sql(\\\"{query}\\\").show()\"\n"
        f"                or: JIRA_DATA_ROOT={data_root} {venv_script('jira-pipeline')} duckdb\n"
        f"Report (PNG):   {data_root / 'report'}  (drawn when the backfill is done; again "
        f"later: JIRA_DATA_ROOT={data_root} {venv_script('jira-pipeline')} report --out "
        f"DIR; questions answered: docs/analyst_guide.md)\n"
        f"Logs:           {logs}\n"
        "Streaming webhooks from the simulator; Ctrl-C stops everything.\n",
        flush=True,
    )


def _stream_webhooks(
    url: str, secret: str, jira: SimulatedJira, rate: float, seed: int,
    after_batch: Callable[[], None],
) -> None:
    """Send webhooks at ``rate``/s in batches, forever (until Ctrl-C), calling
    ``after_batch`` between batches."""
    batch = max(1, int(rate * 10))
    sent = 0
    while True:
        summary = send_webhooks(url, secret, batch, rate=rate, seed=seed + sent, jira=jira)
        sent += batch
        kinds = sorted({event for event, _ in summary.events})
        print(f"webhooks sent: {sent} (last batch: {summary.accepted} accepted, "
              f"{summary.duplicates} duplicates, {summary.failed} failed; {', '.join(kinds)})",
              flush=True)
        after_batch()

