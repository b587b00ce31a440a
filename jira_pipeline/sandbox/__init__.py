"""What runs the pipeline without a Jira account: the simulated Jira Cloud, the demo, the
child processes the demo and the end-to-end tests start, and the demo data behind the
analyst guide. Part of the product (``make demo``), never imported by production code:
``jira_pipeline_tests/test_architecture.py`` enforces that edge."""
