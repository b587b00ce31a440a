"""The Dagster objects of the code location, thin: each calls plain functions from
``jira_pipeline.orchestration``, ``jira_pipeline.ingest`` and ``jira_pipeline.transform``."""

import warnings

from dagster import BetaWarning, PreviewWarning

# Two features used knowingly (see assets.py and checks.py): keep them out of every log.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=PreviewWarning
)
