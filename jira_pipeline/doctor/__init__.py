"""``jira-pipeline doctor``: checks the configuration the services read against the real
site, the receiver, the storage and Dagster, before anything runs. One module per family
of checks; each check is a plain function returning :class:`Check` lines."""
