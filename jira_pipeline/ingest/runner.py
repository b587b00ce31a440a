"""Run one per-issue step over many keys on a thread pool, with a progress bar.

A failure of one issue is recorded with its reason and the others go on; a 401 stops
everything at once (every further request would fail the same way, and the operator
must rotate the token)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tqdm import tqdm

from jira_pipeline.jira.http import JiraAuthError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Outcomes(Generic[T]):
    """Per-key results of a parallel run: what succeeded, and why the rest failed."""

    results: dict[str, T] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def run_per_key(
    keys: Iterable[str],
    step: Callable[[str], T],
    *,
    parallel: int = 8,
    desc: str = "issues",
    progress: bool = False,
) -> Outcomes[T]:
    """Call ``step(key)`` for each distinct key with at most ``parallel`` in flight."""
    unique = list(dict.fromkeys(keys))
    outcomes: Outcomes[T] = Outcomes()
    if not unique:
        return outcomes
    with (
        tqdm(total=len(unique), desc=desc, unit="issue", disable=not progress) as bar,
        ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="jira") as pool,
    ):
        futures: dict[Future[T], str] = {pool.submit(step, key): key for key in unique}
        try:
            for future in as_completed(futures):
                _collect(outcomes, futures[future], future)
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


def _collect(outcomes: Outcomes[T], key: str, future: Future[T]) -> None:
    try:
        outcomes.results[key] = future.result()
    except JiraAuthError:
        raise
    except Exception as exc:  # one issue's failure must not stop the others
        record_failure(outcomes, key, exc)


def record_failure(outcomes: Outcomes, key: str, exc: Exception) -> None:
    """Note why ``key`` failed; a bug (not an I/O, value or Jira error) is logged whole."""
    if not isinstance(exc, (OSError, ValueError, RuntimeError)):
        log.exception("unexpected error on %s", key)
    outcomes.failed[key] = str(exc) or type(exc).__name__
