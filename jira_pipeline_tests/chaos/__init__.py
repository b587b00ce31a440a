"""Helpers of the fault and load suite (``test_chaos_*.py``): the results table, Parquet
snapshots that tell "old content", "new content" and "corrupt" apart, the simulated site and
its comparison with the tables, the colliding writers, a killable transform worker, and the
webhook sensor driven by hand on a real Dagster instance."""
