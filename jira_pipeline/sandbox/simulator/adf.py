"""Atlassian Document Format for the simulator: random but realistic documents (the node zoo
real descriptions and comments contain), and the two other renderings Jira serves of the
same text: HTML for ``renderedFields`` and wiki markup for v2 webhook bodies."""

from __future__ import annotations

import html
import random
import uuid

from jira_pipeline.sandbox.simulator.catalog import USERS

_SENTENCES = (
    "The customer cannot log in since this morning.",
    "Payments fail with a timeout after 30 seconds.",
    "Exports to CSV drop the last row when it contains a comma.",
    "The mobile app crashes on start-up on Android 14.",
    "Single sign-on redirects loop between the portal and the identity provider.",
    "Invoices show the wrong currency for customers in India.",
    "Search results are empty although matching records exist.",
    "The nightly sync job has not finished for two days.",
    "Users report the dashboard loads slowly during peak hours.",
    "A webhook retry storm filled the queue.",
    "Café owners in Zürich see garbled umlauts: Grüße, naïve, façade.",
    "Steps to reproduce are attached; it happens about one time in five.",
)
_CODE = (
    ("python", "import requests\nresp = requests.get(url, timeout=30)\nresp.raise_for_status()"),
    ("json", '{\n  "error": "timeout",\n  "retry": true\n}'),
    ("bash", "curl -s -u user:token https://example.invalid/rest/api/3/myself | jq ."),
    ("sql", "SELECT count(*) FROM payments WHERE status = 'failed';"),
)
_EMOJI = (
    ("1f601", ":grin:", "\U0001f601"),
    ("1f44d", ":thumbsup:", "\U0001f44d"),
    ("1f525", ":fire:", "\U0001f525"),
    ("2705", ":white_check_mark:", "\u2705"),
)
_LINKS = (
    "https://status.example.com/incidents/4711",
    "https://docs.example.com/kb/sso-loop",
    "https://github.com/example/app/pull/1234",
)
_PANELS = ("info", "note", "warning", "error", "success")


def text(value: str, *marks: dict) -> dict:
    node: dict = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def paragraph(*content: dict) -> dict:
    return {"type": "paragraph", "content": list(content)}


def doc(*content: dict) -> dict:
    return {"version": 1, "type": "doc", "content": list(content)}


def plain_doc(value: str) -> dict:
    """A document holding one paragraph of plain text (what an API client writes)."""
    return doc(paragraph(text(value)))


def mention(user_index: int) -> dict:
    user = USERS[user_index]
    return {
        "type": "mention",
        "attrs": {"id": user.account_id, "text": f"@{user.display_name}", "accessLevel": ""},
    }


def _rich_paragraph(rng: random.Random) -> dict:
    parts = [text(rng.choice(_SENTENCES))]
    roll = rng.random()
    if roll < 0.3:
        parts += [text(" cc "), mention(rng.randrange(8)), text(" ")]
    elif roll < 0.5:
        parts += [
            text(" See "),
            text("the runbook", {"type": "link", "attrs": {"href": rng.choice(_LINKS)}}),
        ]
    elif roll < 0.65:
        parts += [{"type": "hardBreak"}, text("Error: "), text("E_TIMEOUT", {"type": "code"})]
    elif roll < 0.8:
        emoji_id, short, char = rng.choice(_EMOJI)
        parts += [
            text(" "),
            {"type": "emoji", "attrs": {"id": emoji_id, "shortName": short, "text": char}},
        ]
    else:
        parts += [
            text(" Important", {"type": "strong"}),
            text(" and ", {"type": "em"}),
            text("obsolete", {"type": "strike"}),
        ]
    return paragraph(*parts)


def _block(kind: str, rng: random.Random) -> dict:
    if kind == "heading":
        return {
            "type": "heading",
            "attrs": {"level": rng.choice((2, 3))},
            "content": [text(rng.choice(("Summary", "Steps to reproduce", "Impact")))],
        }
    if kind == "code":
        language, code = rng.choice(_CODE)
        return {"type": "codeBlock", "attrs": {"language": language}, "content": [text(code)]}
    if kind == "table":

        def row(cell_type: str, cells: tuple[str, ...]) -> dict:
            marks = ({"type": "strong"},) if cell_type == "tableHeader" else ()
            return {
                "type": "tableRow",
                "content": [
                    {"type": cell_type, "attrs": {}, "content": [paragraph(text(c, *marks))]}
                    for c in cells
                ],
            }

        return {
            "type": "table",
            "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
            "content": [
                row("tableHeader", ("Environment", "Result")),
                {
                    "type": "tableRow",
                    "content": [
                        {
                            "type": "tableCell",
                            "attrs": {},
                            "content": [paragraph(text("production"))],
                        },
                        {
                            "type": "tableCell",
                            "attrs": {},
                            "content": [
                                paragraph(
                                    text(
                                        "fails",
                                        {"type": "textColor", "attrs": {"color": "#ff5630"}},
                                    )
                                )
                            ],
                        },
                    ],
                },
                row("tableCell", ("staging", "works")),
            ],
        }
    if kind == "panel":
        return {
            "type": "panel",
            "attrs": {"panelType": rng.choice(_PANELS)},
            "content": [
                paragraph(
                    text("Note: ", {"type": "strong"}),
                    text(
                        rng.choice(_SENTENCES), {"type": "textColor", "attrs": {"color": "#0747a6"}}
                    ),
                    text(" Status", {"type": "link", "attrs": {"href": _LINKS[0]}}),
                )
            ],
        }
    if kind in ("bulletList", "orderedList"):
        items = [
            {
                "type": "listItem",
                "content": [
                    paragraph(
                        text(rng.choice(_SENTENCES)),
                        text(" (done)", {"type": "em"}),
                        text(" details", {"type": "link", "attrs": {"href": rng.choice(_LINKS)}}),
                    )
                ],
            }
            for _ in range(rng.randint(2, 4))
        ]
        node: dict = {"type": kind, "content": items}
        if kind == "orderedList":
            node["attrs"] = {"order": 1}
        return node
    if kind == "inlineCard":
        return paragraph(
            text("Related: "), {"type": "inlineCard", "attrs": {"url": rng.choice(_LINKS)}}
        )
    if kind == "media":
        media_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return {
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [
                {
                    "type": "media",
                    "attrs": {
                        "id": media_id,
                        "type": "file",
                        "collection": "",
                        "width": 1280,
                        "height": 720,
                    },
                }
            ],
        }
    if kind == "blockquote":
        return {"type": "blockquote", "content": [paragraph(text(rng.choice(_SENTENCES)))]}
    if kind == "rule":
        return {"type": "rule"}
    return _rich_paragraph(rng)


_BLOCK_KINDS = (
    "paragraph",
    "paragraph",
    "heading",
    "code",
    "table",
    "panel",
    "bulletList",
    "orderedList",
    "inlineCard",
    "media",
    "blockquote",
    "rule",
)


def random_doc(rng: random.Random, blocks: tuple[int, int] = (1, 5)) -> dict:
    """A document starting with a paragraph and followed by a random mix of rich blocks."""
    content = [_rich_paragraph(rng)]
    content += [_block(rng.choice(_BLOCK_KINDS), rng) for _ in range(rng.randint(*blocks) - 1)]
    return doc(*content)


# --- renderings -------------------------------------------------------------------------

_HTML_MARKS = {"strong": "b", "em": "em", "strike": "del", "code": "code", "underline": "u"}
_HTML_BLOCKS = {
    "paragraph": "p",
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "blockquote": "blockquote",
    "table": "table",
    "tableRow": "tr",
    "tableHeader": "th",
    "tableCell": "td",
    "panel": "div",
    "mediaSingle": "div",
}


def to_html(node: dict | None) -> str | None:
    """HTML as Jira's ``renderedFields`` gives it (close enough for a client to store)."""
    if node is None:
        return None
    return "".join(_html(child) for child in node.get("content", ()))


def _html(node: dict) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        out = html.escape(node.get("text", ""))
        for mark in node.get("marks", ()):
            if mark["type"] == "link":
                out = f'<a href="{html.escape(mark["attrs"]["href"])}">{out}</a>'
            elif mark["type"] in _HTML_MARKS:
                tag = _HTML_MARKS[mark["type"]]
                out = f"<{tag}>{out}</{tag}>"
        return out
    if kind == "hardBreak":
        return "<br/>"
    if kind == "rule":
        return "<hr/>"
    if kind == "mention":
        return f'<a class="user-hover" rel="{html.escape(attrs["id"])}">{html.escape(attrs["text"])}</a>'
    if kind == "emoji":
        return html.escape(attrs.get("text", attrs.get("shortName", "")))
    if kind == "inlineCard":
        return f'<a href="{html.escape(attrs["url"])}">{html.escape(attrs["url"])}</a>'
    if kind == "media":
        return f'<span class="image-wrap"><img src="/rest/api/3/attachment/content/{attrs["id"]}"/></span>'
    inner = "".join(_html(child) for child in node.get("content", ()))
    if kind == "heading":
        return f"<h{attrs.get('level', 2)}>{inner}</h{attrs.get('level', 2)}>"
    if kind == "codeBlock":
        return f'<div class="code panel"><pre>{inner}</pre></div>'
    tag = _HTML_BLOCKS.get(kind or "", "span")
    return f"<{tag}>{inner}</{tag}>"


def to_wiki(node: dict | None) -> str | None:
    """Wiki markup, the text format of v2 webhook bodies (``[~accountid:…]`` mentions)."""
    if node is None:
        return None
    return "\n\n".join(_wiki(child) for child in node.get("content", ())).strip("\n")


def _wiki(node: dict) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    inner = "".join(_wiki(child) for child in node.get("content", ()))
    if kind == "text":
        out = node.get("text", "")
        for mark in node.get("marks", ()):
            if mark["type"] == "link":
                out = f"[{out}|{mark['attrs']['href']}]"
            elif mark["type"] == "strong":
                out = f"*{out}*"
            elif mark["type"] == "em":
                out = f"_{out}_"
            elif mark["type"] == "code":
                out = "{{" + out + "}}"
            elif mark["type"] == "strike":
                out = f"-{out}-"
        return out
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        return f"[~accountid:{attrs['id']}]"
    if kind == "emoji":
        return attrs.get("shortName", "")
    if kind == "inlineCard":
        return f"[{attrs['url']}|{attrs['url']}|smart-link]"
    if kind == "media":
        return f"!{attrs['id']}|thumbnail!"
    if kind == "heading":
        return f"h{attrs.get('level', 2)}. {inner}"
    if kind == "codeBlock":
        return f"{{code:{attrs.get('language', '')}}}\n{inner}\n{{code}}"
    if kind == "panel":
        return f"{{panel:bgColor=#deebff}}\n{inner}\n{{panel}}"
    if kind == "blockquote":
        return f"{{quote}}{inner}{{quote}}"
    if kind == "rule":
        return "----"
    if kind in ("bulletList", "orderedList"):
        bullet = "*" if kind == "bulletList" else "#"
        return "\n".join(f"{bullet} {_wiki(item)}" for item in node.get("content", ()))
    if kind == "tableRow":
        cells = node.get("content", ())
        sep = "||" if cells and cells[0].get("type") == "tableHeader" else "|"
        return sep + sep.join(_wiki(c) for c in cells) + sep
    if kind == "table":
        return "\n".join(_wiki(row) for row in node.get("content", ()))
    return inner
