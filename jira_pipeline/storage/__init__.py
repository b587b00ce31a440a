"""The data root on disk: paths, containment, atomic writes, locks, the webhook inbox."""

from jira_pipeline.storage.atomic import atomic_write_bytes, atomic_write_json
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.safe_paths import UnsafePathError, safe_join_under

__all__ = [
    "DataRoot",
    "UnsafePathError",
    "atomic_write_bytes",
    "atomic_write_json",
    "safe_join_under",
]
