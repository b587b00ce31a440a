"""docs/openapi.yaml (what the fuzz suite and integrators read) describes the app as it is:
the same routes and methods, the same status codes, the same response fields."""

from __future__ import annotations

from pathlib import Path

import yaml

from jira_pipeline_tests.fixtures.receiver import ReceiverClient

SPEC = yaml.safe_load((Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml").read_text())


def schema(name: str) -> dict:
    return SPEC["components"]["schemas"][name]


def test_documented_routes_are_the_served_routes(receiver_client: ReceiverClient) -> None:
    app = receiver_client.client.application
    served = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in SPEC["paths"].items() for method in ops}
    assert documented == served


def test_responses_carry_the_documented_fields(receiver_client: ReceiverClient) -> None:
    accepted = receiver_client.post({"issue_key": "DOC-1"}, identifier="doc")
    duplicate = receiver_client.post({"issue_key": "DOC-1"}, identifier="doc")
    error = receiver_client.post({"issue_key": "doc-1"})
    health = receiver_client.client.get("/webhooks/jira/health")
    post = SPEC["paths"]["/webhooks/jira"]["post"]["responses"]
    assert {"202", "200", "400", "401", "413", "503"} == set(post)
    assert accepted.status_code == 202 and set(accepted.get_json()) == set(
        schema("Accepted")["required"]
    )
    assert duplicate.status_code == 200 and set(duplicate.get_json()) == set(
        schema("Duplicate")["required"]
    )
    assert error.status_code == 400 and set(error.get_json()) == set(schema("Error")["required"])
    assert (
        set(health.get_json())
        == set(schema("Health")["required"])
        == set(schema("Health")["properties"])
    )
