"""File modes are a deliberate least-privilege choice (docs/deploy.md, "Users, groups and
modes"): every file the pipeline writes is 0640 whatever the umask, so the service group
can read but never rewrite what the other service wrote and nobody else can read it; the
published copy in JIRA_DIST_DIR takes the readers group of its setgid folder, read-only."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.transform.schemas import TABLES
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline_tests.fixtures.receiver import all_files
from jira_pipeline_tests.fixtures.transform_data import variant, write_field_list, write_raw
from webhook_receiver.payload import parse_delivery
from webhook_receiver.store import DeliveryStore

# What systemd's UMask= gives the Dagster units (deploy/systemd): no group write on folders
DAGSTER_UMASK = 0o027


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def other_group() -> int:
    """A group that is not ours, to see the setgid folder's group win: root may use any."""
    if os.geteuid() == 0:
        return 65534
    return next((g for g in os.getgroups() if g != os.getegid()), os.getegid())


@pytest.fixture
def raw_issue(data_root: DataRoot) -> DataRoot:
    write_field_list(data_root)
    write_raw(data_root, variant("SUP-1", "2024-01-10T10:00:00.000+0000"))
    return data_root


def test_every_written_file_is_0640_even_under_an_open_umask(raw_issue: DataRoot, tmp_path: Path):
    root = raw_issue
    body = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "SUP-1"}})
    with umask(0):
        DeliveryStore(root).store(parse_delivery(body), body,
                                  {"X-Atlassian-Webhook-Identifier": "modes"})
        upsert_issues(root, ["SUP-1"], dist_dir=tmp_path / "dist")
    written = [*all_files(root.raw / "inbox"), *all_files(root.webhook_events_dir),
               *all_files(root.state_dir / "webhook_ids"), *root.parquet.glob("*/*.parquet"),
               *(tmp_path / "dist").glob("*/*.parquet")]
    assert len(written) == 3 + 2 * len(TABLES)  # one delivery under three names, tables twice
    assert {str(p): oct(mode(p)) for p in written} == {str(p): "0o640" for p in written}
    assert oct(mode(root.issue_file("SUP-1"))) == "0o640"


def test_dist_copies_take_the_readers_group_read_only(raw_issue: DataRoot, tmp_path: Path):
    """install.sh makes JIRA_DIST_DIR setgid with the readers group: every table folder and
    file below it takes that group, readable and never writable by it."""
    dist = tmp_path / "dist"
    dist.mkdir()
    readers = other_group()
    os.chown(dist, -1, readers)
    dist.chmod(0o2750)
    with umask(DAGSTER_UMASK):
        upsert_issues(raw_issue, ["SUP-1"], dist_dir=dist)
    folders = [p for p in dist.iterdir() if p.is_dir()]
    files = list(dist.glob("*/*.parquet"))
    assert len(folders) == len(files) == len(TABLES)
    assert {(p.stat().st_gid, oct(mode(p))) for p in folders} == {(readers, "0o2750")}
    assert {(p.stat().st_gid, oct(mode(p))) for p in files} == {(readers, "0o640")}
