"""Property: whatever arrives (bodies, keys, labels, identifiers, signature headers), the
receiver with its secret set never answers 5xx and never writes outside its data root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jira_pipeline.storage import DataRoot
from jira_pipeline_tests.fixtures.receiver import receiver_config
from jira_pipeline_tests.fixtures.receiver_inputs import (
    bodies,
    files_outside,
    header_text,
    signature_headers,
    signature_styles,
)
from webhook_receiver import create_app


def test_fuzzed_deliveries_never_5xx_and_never_escape_the_data_root(tmp_path: Path) -> None:
    data_root = DataRoot(tmp_path / "data")
    app = create_app(receiver_config(data_root, JIRA_DEBUG=True))
    client = app.test_client()
    seen_statuses: set[int] = set()

    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        body=bodies,
        style=signature_styles,
        garbage=header_text,
        identifier=st.none() | header_text,
        retry=st.none() | header_text,
        path=st.sampled_from(["/webhooks/jira"] * 4 + ["/webhooks/jira/test"]),
    )
    def deliver(
        body: bytes, style: str, garbage: str, identifier: str | None, retry: str | None, path: str
    ) -> None:
        headers: dict[str, Any] = signature_headers(style, body, garbage)
        if identifier is not None:
            headers["X-Atlassian-Webhook-Identifier"] = identifier
        if retry is not None:
            headers["X-Atlassian-Webhook-Retry"] = retry
        response = client.post(path, data=body, headers=headers)
        assert response.status_code in {200, 202, 400, 401}, response.data
        assert response.is_json
        seen_statuses.add(response.status_code)
        assert set(os.listdir(tmp_path)) <= {"data"}

    deliver()
    assert files_outside(data_root, tmp_path) == []  # files are never removed: one walk will do
    # The generator reached every branch, not only the signature check.
    assert {202, 400, 401} <= seen_statuses
