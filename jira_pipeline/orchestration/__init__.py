"""Plain logic behind the Dagster objects: which month each webhook event touches, the
sensor's bookkeeping of runs and retries, what a month run does, and the table writes and
checks the assets and the maintenance jobs share. No Dagster imports here, so tests call
it directly."""
