"""ADF → text: the rules of issue 5, every ADF document of the shared corpus, generated and
hostile trees (deep nesting, unknown nodes, wrong types) that must never crash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jira_pipeline.jira.adf import adf_to_text
from jira_pipeline_tests.fixtures.common import load_shared_sample, shared_sample_params
from jira_pipeline_tests.fixtures.transform_data import rich_issue


def doc(*content: Any) -> dict[str, Any]:
    return {"version": 1, "type": "doc", "content": list(content)}


def para(*content: Any) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def item(*content: Any) -> dict[str, Any]:
    return {"type": "listItem", "content": list(content)}


def cell(value: str, kind: str = "tableCell") -> dict[str, Any]:
    return {"type": kind, "attrs": {}, "content": [para(text(value))]}


def test_paragraphs_and_headings_each_on_their_own_line():
    tree = doc(
        {"type": "heading", "attrs": {"level": 1}, "content": [text("Title")]},
        para(text("first "), text("paragraph", {"type": "strong"})),
        para(text("second")),
    )
    assert adf_to_text(tree) == "Title\nfirst paragraph\nsecond"


def test_lists_are_marked_numbered_and_nested():
    tree = doc(
        {
            "type": "bulletList",
            "content": [
                item(para(text("apples"))),
                item(
                    para(text("pears")),
                    {
                        "type": "orderedList",
                        "attrs": {"order": 3},
                        "content": [item(para(text("three"))), item(para(text("four")))],
                    },
                ),
            ],
        },
        {
            "type": "taskList",
            "content": [
                {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [text("done")]},
                {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [text("todo")]},
            ],
        },
    )
    assert adf_to_text(tree) == "- apples\n- pears\n  3. three\n  4. four\n[x] done\n[ ] todo"


def test_table_rows_on_lines_cells_separated():
    tree = doc(
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [cell("Name", "tableHeader"), cell("Count", "tableHeader")],
                },
                {
                    "type": "tableRow",
                    "content": [
                        cell("a"),
                        {
                            "type": "tableCell",
                            "content": [para(text("two")), para(text("paragraphs"))],
                        },
                    ],
                },
            ],
        },
        para(text("after")),
    )
    assert adf_to_text(tree) == "Name | Count\na | two paragraphs\nafter"


def test_mentions_links_cards_code_media_emoji_breaks():
    tree = doc(
        para(
            text("ping"),
            {"type": "mention", "attrs": {"id": "abc", "text": "@Mia Krystof"}},
            text(" see "),
            text("docs", {"type": "link", "attrs": {"href": "https://d.example"}}),
            text(" and "),
            text(
                "https://same.example", {"type": "link", "attrs": {"href": "https://same.example"}}
            ),
            {"type": "inlineCard", "attrs": {"url": "https://jira.example/browse/X-1"}},
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            {"type": "hardBreak"},
            text("next line"),
        ),
        {"type": "blockCard", "attrs": {"url": "https://card.example"}},
        {"type": "codeBlock", "attrs": {"language": "py"}, "content": [text("x = 1\nprint(x)")]},
        {
            "type": "mediaSingle",
            "content": [
                {"type": "media", "attrs": {"type": "file", "id": "f-1", "alt": "trace.log"}}
            ],
        },
        {
            "type": "mediaGroup",
            "content": [{"type": "media", "attrs": {"type": "file", "id": "f-2"}}],
        },
    )
    assert adf_to_text(tree) == (
        "ping @Mia Krystof see docs (https://d.example) and https://same.example "
        "https://jira.example/browse/X-1 :smile:\nnext line\nhttps://card.example\n"
        "x = 1\nprint(x)\n[attachment: trace.log]\n[attachment: f-2]"
    )


def test_mention_without_at_sign_gets_one_and_panels_expand_keep_text():
    tree = doc(
        para({"type": "mention", "attrs": {"id": "x", "text": "Sam"}}),
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [para(text("in panel"))]},
        {"type": "expand", "attrs": {"title": "Details"}, "content": [para(text("hidden"))]},
        {"type": "blockquote", "content": [para(text("quoted"))]},
        {"type": "rule"},
        para(
            {"type": "status", "attrs": {"text": "IN REVIEW"}},
            {"type": "date", "attrs": {"timestamp": "1709251200000"}},
        ),
    )
    assert adf_to_text(tree) == (
        "@Sam\nin panel\nDetails\nhidden\nquoted\n---\nIN REVIEW2024-03-01"
    )


def test_unknown_nodes_contribute_their_text():
    tree = doc(
        {
            "type": "futureWidget",
            "attrs": {"x": 1},
            "content": [para(text("inside unknown")), {"type": "sparkle", "text": "own text"}],
        }
    )
    assert adf_to_text(tree) == "inside unknown\nown text"


def test_wiki_markup_and_none_pass_through():
    wiki = "h1. Title\n*bold* [~accountid:abc] {code}x{code}"
    assert adf_to_text(wiki) == wiki
    assert adf_to_text(None) is None
    assert adf_to_text(42) == "42"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_iterative(depth: int):
    node: dict[str, Any] = para(text("bottom"))
    for _ in range(depth):
        node = {"type": "blockquote", "content": [node]}
    assert adf_to_text(doc(node)) == "bottom"
    nested: dict[str, Any] = {"type": "bulletList", "content": [item(para(text("leaf")))]}
    for _ in range(depth // 10):
        nested = {"type": "bulletList", "content": [item(nested)]}
    assert adf_to_text(doc(nested)).strip().endswith("- leaf")


def test_malformed_nodes_do_not_crash():
    hostile = doc(
        None,
        7,
        "str",
        [],
        {"content": "not a list"},
        {"type": None},
        {"type": [], "text": "listy"},
        {"type": {"x": 1}, "content": [text("dicty")]},
        {"type": "text", "text": None},
        {"type": "text", "text": 5, "marks": "x"},
        {"type": "mention", "attrs": "bad"},
        {"type": "orderedList", "attrs": {"order": 10**30}, "content": [item(para(text("big")))]},
        {"type": "date", "attrs": {"timestamp": "soon"}},
        {"type": "tableRow", "content": [None, cell("ok")]},
        para(text("\x00nul \u202eRTL \U0001f600 e\u0301")),
    )
    out = adf_to_text(hostile)
    assert "1. big" in out and "ok" in out and "\u202eRTL" in out and "dicty" in out


def test_rich_fixture_description():
    description = rich_issue()["fields"]["description"]
    assert adf_to_text(description) == (
        "Login fails\nHi @Mia Krystof, see the runbook (https://wiki.example/runbook) and "
        "https://example-sd.atlassian.net/browse/ENG-12 :warning:\n- step one\n- step two\n"
        "  1. nested\ncurl -i https://api.example/login\nexit 1\nBrowser | Result\n"
        "Firefox | 500\n[attachment: screenshot.png]\nline one\nline two"
    )


# ---- generated trees -----------------------------------------------------------------------

NODE_TYPES = [
    "doc",
    "paragraph",
    "heading",
    "text",
    "bulletList",
    "orderedList",
    "listItem",
    "table",
    "tableRow",
    "tableCell",
    "tableHeader",
    "mention",
    "emoji",
    "hardBreak",
    "inlineCard",
    "blockCard",
    "codeBlock",
    "media",
    "mediaSingle",
    "panel",
    "expand",
    "taskList",
    "taskItem",
    "status",
    "date",
    "rule",
    "unknownThing",
]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
attrs = st.dictionaries(
    st.sampled_from(
        ["text", "url", "shortName", "alt", "order", "state", "timestamp", "title", "id", "href"]
    ),
    scalars,
    max_size=3,
)
nodes = st.recursive(
    st.builds(lambda t, s: {"type": t, "text": s}, st.sampled_from(NODE_TYPES), st.text()),
    lambda children: st.builds(
        lambda t, a, c, m: {"type": t, "attrs": a, "content": c, "marks": m},
        st.sampled_from(NODE_TYPES),
        attrs,
        st.lists(children, max_size=4),
        st.lists(
            st.fixed_dictionaries({"type": st.sampled_from(["link", "strong"]), "attrs": attrs}),
            max_size=2,
        ),
    ),
    max_leaves=30,
)


CONTAINERS = [
    "doc",
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "listItem",
    "table",
    "tableRow",
    "tableCell",
    "tableHeader",
    "panel",
    "expand",
    "blockquote",
    "taskList",
    "taskItem",
    "layoutSection",
    "unknownThing",
]
text_leaves = st.builds(
    lambda s: {"type": "text", "text": s},
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=6),
)
containers = st.recursive(
    text_leaves,
    lambda children: st.builds(
        lambda t, c: {"type": t, "content": c},
        st.sampled_from(CONTAINERS),
        st.lists(children, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes)
def test_generated_trees_never_crash(tree: dict[str, Any]):
    assert isinstance(adf_to_text(tree), str)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(containers)
def test_generated_containers_keep_every_text_leaf(tree: dict[str, Any]):
    out = adf_to_text(tree)
    for leaf in _text_nodes(tree):
        assert leaf["text"].strip() in out


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        scalars,
        lambda c: st.one_of(
            st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_crashes(value: Any):
    out = adf_to_text(value)
    assert out is None or isinstance(out, str)


# ---- shared corpus ---------------------------------------------------------------------------


def _adf_documents(value: Any) -> list[dict[str, Any]]:
    """Every ``{"type": "doc"}`` object inside a JSON document."""
    found, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "doc":
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@pytest.mark.parametrize("name", shared_sample_params("adf-"))
def test_shared_adf_samples_convert(name: str):
    document = load_shared_sample(name)
    out = adf_to_text(document)
    assert out
    leaf_texts = [n["text"] for n in _text_nodes(document) if n["text"].strip()]
    for leaf in leaf_texts:
        assert leaf.strip() in out


@pytest.mark.parametrize("name", shared_sample_params("real-issue-v3-"))
def test_adf_inside_shared_issues_converts(name: str):
    documents = _adf_documents(load_shared_sample(name))
    assert documents
    for document in documents:
        out = adf_to_text(document)
        for leaf in _text_nodes(document):
            assert leaf["text"].strip() in out


def _text_nodes(value: Any) -> list[dict[str, Any]]:
    return [
        n for n in _all_dicts(value) if n.get("type") == "text" and isinstance(n.get("text"), str)
    ]


def _all_dicts(value: Any) -> list[dict[str, Any]]:
    found, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
