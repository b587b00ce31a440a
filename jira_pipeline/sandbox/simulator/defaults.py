"""Fake credentials and ids the simulator accepts unless told otherwise (test values only)."""

DEFAULT_EMAIL = "sim@example.com"
DEFAULT_TOKEN = "sim-api-token"
DEFAULT_SLA_EMAIL = "sla@example.com"
DEFAULT_SLA_TOKEN = "sim-sla-token"
DEFAULT_CLOUD_ID = "00000000-5140-4000-8000-000000000000"
