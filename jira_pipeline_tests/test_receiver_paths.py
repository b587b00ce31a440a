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


def test_root_reached_through_a_symlink_follows_it_when_it_is_repointed(tmp_path: Path) -> None:
    """The resolved root is remembered for speed, but only while the root still leads to the
    same directory: re-pointing a symlinked data root takes effect on the next call."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    root = tmp_path / "data"
    os.symlink(first, root)
    assert safe_join_under(root, "a.json") == first.resolve() / "a.json"
    assert safe_join_under(root, "a.json") == first.resolve() / "a.json"  # remembered
    os.remove(root)
    os.symlink(second, root)
    assert safe_join_under(root, "a.json") == second.resolve() / "a.json"


def test_a_name_that_becomes_a_symlink_out_is_refused_after_earlier_calls(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    assert safe_join_under(root, "event.json") == root.resolve() / "event.json"
    os.symlink(outside / "event.json", root / "event.json")
    with pytest.raises(UnsafePathError):
        safe_join_under(root, "event.json")
    os.symlink(outside, root / "dir")
    with pytest.raises(UnsafePathError):
        safe_join_under(root, "dir", "event.json")


def test_a_root_that_does_not_exist_yet_is_joined_without_error(tmp_path: Path) -> None:
    root = tmp_path / "later" / "root"
    assert safe_join_under(root, "a.json") == tmp_path.resolve() / "later" / "root" / "a.json"
    root.mkdir(parents=True)
    assert safe_join_under(root, "a.json") == root.resolve() / "a.json"


def test_many_roots_stay_correct_while_the_remembered_ones_are_bounded(tmp_path: Path) -> None:
    """Per-issue attachment directories are roots too: a backfill passes thousands."""
    from jira_pipeline.storage import safe_paths

    roots = [tmp_path / f"ISSUE-{n}" for n in range(3 * safe_paths._RESOLVED_ROOTS_MAX)]
    for root in roots:
        root.mkdir()
        assert safe_join_under(root, "1_a.png") == root.resolve() / "1_a.png"
    assert len(safe_paths._RESOLVED_ROOTS) <= safe_paths._RESOLVED_ROOTS_MAX
    assert safe_join_under(roots[0], "1_a.png") == roots[0].resolve() / "1_a.png"
