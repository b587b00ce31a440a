"""Dagster instance plugins, named by ``dagster.yaml`` (not by the code location): the run
launcher."""
