"""``safe_join_under``: the one containment check every path built from outside input
goes through (the receiver's audit, inbox and marker files included)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jira_pipeline.storage import UnsafePathError, safe_join_under


@pytest.mark.parametrize(
    "parts",
    [
        ("..",),
        ("../outside.json",),
        ("a", "..", "..", "outside.json"),
        ("inbox/../../outside.json",),
        ("/etc/passwd",),
        ("a", "/etc/passwd"),
        ("",),
        ("evil\x00.json",),
    ],
)
def test_escaping_or_malformed_components_are_refused(
    tmp_path: Path, parts: tuple[str, ...]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafePathError):
        safe_join_under(root, *parts)


def test_symlink_pointing_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePathError):
        safe_join_under(root, "link", "event.json")
    os.symlink(outside / "file.json", root / "file.json")
    with pytest.raises(UnsafePathError):
        safe_join_under(root, "file.json")


def test_paths_inside_the_root_are_returned_resolved(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "inbox").mkdir(parents=True)
    os.symlink(root / "inbox", root / "alias")
    assert safe_join_under(root, "inbox", "a.json") == (root / "inbox" / "a.json").resolve()
    assert safe_join_under(root, "alias", "a.json") == (root / "inbox" / "a.json").resolve()
    assert safe_join_under(root, "inbox/./b.json") == (root / "inbox" / "b.json").resolve()


def test_symlink_loop_stays_inside_and_cannot_be_written(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(root / "b", root / "a")
    os.symlink(root / "a", root / "b")
    looped = safe_join_under(root, "a")
    assert looped.parent == root.resolve()
    with pytest.raises(OSError):
        looped.write_bytes(b"x")
