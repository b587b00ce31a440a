"""``JIRA_DIST_DIR``: a copy of the month files for rsync to analysts' machines.

Layout ``<dist>/<table>/YYYY-MM.parquet``. A file is copied (atomically, keeping the
source's mtime) only when its size or mtime differ from the source, and removed when the
source month file is gone; unchanged files are never touched, so rsync sends only what
changed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from jira_pipeline.storage.atomic import atomic_path, fsync_dir
from jira_pipeline.storage.paths import DataRoot, check_month
from jira_pipeline.transform.month_files import months_in
from jira_pipeline.transform.schemas import TABLES


def sync_dist(root: DataRoot, dist_dir: Path, *, months: Iterable[str] | None = None) -> list[Path]:
    """Mirror the month files of ``months`` (default: every month on either side) into
    ``dist_dir``; returns the dist paths copied or removed."""
    dist_dir = Path(dist_dir)
    touched = []
    for table in TABLES:
        source_dir, target_dir = root.table_dir(table), dist_dir / table
        wanted = (months_in(source_dir) | months_in(target_dir)
                  if months is None else {check_month(m) for m in months})
        for month in sorted(wanted):
            source = source_dir / f"{month}.parquet"
            target = target_dir / f"{month}.parquet"
            if _copy_if_changed(source, target):
                touched.append(target)
    return touched


def _copy_if_changed(source: Path, target: Path) -> bool:
    try:
        src = source.stat()
    except FileNotFoundError:
        if target.exists():
            target.unlink()
            fsync_dir(target.parent)
            return True
        return False
    try:
        dst = target.stat()
        if (dst.st_size, dst.st_mtime_ns) == (src.st_size, src.st_mtime_ns):
            return False
    except FileNotFoundError:
        pass
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        os.utime(tmp, ns=(src.st_atime_ns, src.st_mtime_ns))
    return True
