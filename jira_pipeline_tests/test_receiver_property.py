"""Property: whatever arrives (bodies, keys, labels, identifiers, signature headers), the
receiver with its secret set never answers 5xx and never writes outside its data root."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jira_pipeline.jira.signature import sign_body
from jira_pipeline.storage import DataRoot
from jira_pipeline_tests.fixtures.receiver import TEST_SECRET, receiver_config
from jira_pipeline_tests.test_receiver_validation import BAD_KEYS
from webhook_receiver import create_app

# Header values as they can arrive over HTTP: latin-1, no control characters.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
issue_keys = (
    st.from_regex(r"[A-Z][A-Z0-9_]{0,31}-[0-9]{1,12}\Z", fullmatch=True)
    | st.sampled_from(BAD_KEYS)
    | st.text(max_size=40)
    | json_value
)
issue_ids = st.integers(min_value=-5, max_value=10**19) | st.text(max_size=20) | json_value
labels = st.sampled_from(
    [
        "jira:issue_updated",
        "jira:issue_deleted",
        "issuelink_created",
        "../../../etc/passwd",
        "/tmp/x",
        "..",
        "a/b\\c",
    ]
) | st.text(max_size=80)
issues = (
    st.fixed_dictionaries(
        {},
        optional={
            "key": issue_keys,
            "id": issue_ids,
            "fields": st.fixed_dictionaries({}, optional={"created": json_value | st.text()}),
        },
    )
    | json_value
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "webhookEvent": labels | json_value,
        "issue": issues,
        "issue_key": issue_keys,
        "issueLink": st.fixed_dictionaries(
            {}, optional={"sourceIssueId": issue_ids, "destinationIssueId": issue_ids}
        )
        | json_value,
    },
)


def encode(value: Any) -> bytes:
    # stdlib json, not orjson: big integers and escaped lone surrogates reach the receiver.
    return json.dumps(value).encode()


bodies = payloads.map(encode) | json_value.map(encode) | st.binary(max_size=300)
signature_styles = st.sampled_from(["prefixed", "bare", "sha256-header", "garbage", "none"])


def signature_headers(style: str, body: bytes, garbage: str) -> dict[str, str]:
    signed = sign_body(TEST_SECRET, body)
    return {
        "prefixed": {"X-Hub-Signature": signed},
        "bare": {"X-Hub-Signature": signed.removeprefix("sha256=")},
        "sha256-header": {"X-Hub-Signature-256": signed},
        "garbage": {"X-Hub-Signature": garbage},
        "none": {},
    }[style]


def files_outside(data_root: DataRoot, base: Path) -> list[str]:
    """Anything written beside the data root, or inside it but outside the receiver's dirs."""
    allowed = (data_root.webhook_events_dir, data_root.inbox_dir, data_root.state_dir)
    stray = [name for name in os.listdir(base) if name != "data"]
    for directory, _, names in os.walk(base / "data"):
        for name in names:
            path = Path(directory, name)
            if not any(path.is_relative_to(dir_) for dir_ in allowed):
                stray.append(str(path))
    return stray


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
