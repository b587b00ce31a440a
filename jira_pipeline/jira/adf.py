"""Atlassian Document Format (ADF) → plain text for analysts.

Jira v3 returns descriptions, comments and text-area custom fields as ADF trees; v2 bodies
(webhooks) are wiki-markup strings, which pass through unchanged. The walker is iterative
(an explicit stack, no recursion), so hostile nesting depth cannot exhaust the Python stack,
and any unknown node type still contributes its text instead of failing.

Rules: paragraphs, headings and list items start their own lines (bullets ``- ``, ordered
items ``1. ``, tasks ``[ ]``/``[x]``, nested lists indented); table rows are lines with
cells separated by `` | ``; mentions become ``@Name``; link marks keep their URL after the
text, inline/block cards their URL; code blocks keep their text; media become
``[attachment: name]``; emoji their short name; hard breaks newlines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Stack operations.
_NODE, _TEXT, _MARKER, _BREAK = range(4)
_CELL_SEPARATOR = " | "
_MAX_INDENT = 40  # deeper lists stay at this indent: the text is kept, the layout is capped

_BLOCKS = frozenset({
    "paragraph", "heading", "blockquote", "codeBlock", "panel", "expand", "nestedExpand",
    "mediaSingle", "mediaGroup", "caption", "layoutSection", "layoutColumn", "decisionList",
    "decisionItem", "taskList", "bodiedExtension", "extension", "extensionFrame",
    "blockCard", "embedCard", "table",
})
_CARDS = frozenset({"blockCard", "embedCard"})
_INLINE_LEAVES = frozenset({"hardBreak", "mention", "emoji", "status", "date", "media",
                            "mediaInline", "inlineCard"})
_LIST_ITEMS = frozenset({"listItem", "taskItem"})
_TEXT_BLOCKS = frozenset({"paragraph", "heading"})


def adf_to_text(value: Any) -> str | None:
    """Plain text of an ADF document (or any ADF node); strings pass through as they are
    (wiki markup); ``None`` stays ``None``. Never raises on malformed trees."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, dict | list):
        return None
    return _Writer().render(value)


class _Writer:
    """Accumulates output parts. A block boundary only records a pending separator (a
    newline, or a space inside a table cell) that the next text flushes, so empty blocks
    leave no blank lines; right after a list marker or a cell separator it is ignored."""

    __slots__ = ("parts", "pending", "line_start")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = ""
        self.line_start = True

    def _flush(self) -> None:
        if self.pending and self.parts:
            self.parts.append(self.pending)
        self.pending = ""

    def text(self, text: str) -> None:
        if text:
            if self.pending:
                self._flush()
            self.parts.append(text)
            self.line_start = False

    def spaced_text(self, text: str) -> None:
        """Inline text that must not glue onto the previous word (card URL, mention, emoji)."""
        if text and self.parts and not self.pending and not self.parts[-1][-1:].isspace():
            self.parts.append(" ")
        self.text(text)

    def marker(self, text: str) -> None:
        if text.startswith(" ") and self.pending == " ":
            self.pending = ""
        self._flush()
        self.parts.append(text)
        self.line_start = True

    def block_break(self, in_cell: bool) -> None:
        if not self.line_start and self.pending != "\n":
            self.pending = " " if in_cell else "\n"

    def render(self, root: dict | list) -> str:
        stack: list[tuple[int, Any, str, bool]] = [(_NODE, root, "", False)]
        push = stack.append
        while stack:
            op, item, indent, in_cell = stack.pop()
            if op == _NODE:  # most entries: tested first
                if isinstance(item, dict):
                    self._node(item, indent, in_cell, push)
                elif isinstance(item, list):
                    for child in reversed(item):
                        push((_NODE, child, indent, in_cell))
            elif op == _TEXT:
                self.text(item)
            elif op == _MARKER:
                self.marker(item)
            else:
                self.block_break(in_cell)
        return "".join(self.parts).strip()

    def _node(self, node: dict, indent: str, in_cell: bool, push: Any) -> None:
        """Write ``node``, or push what it holds. What would run first after this returns
        (a leading break, title or text) is written here instead of pushed: it comes
        before anything on the stack either way."""
        kind = _kind(node)
        if kind in _TEXT_BLOCKS:
            self._text_block(node.get("content"), indent, in_cell, push)
            return
        if self._inline(node, kind, in_cell):
            return
        attrs = node.get("attrs")
        if not isinstance(attrs, dict):
            attrs = {}
        children = node.get("content")
        if not isinstance(children, list):
            children = ()
        if kind in _CARDS and not children:
            url = _first_str(attrs, "url") or _first_str(_as_dict(attrs.get("data")), "url")
            self.block_break(in_cell)
            self.text(url or "")
            self.block_break(in_cell)
        elif kind == "rule":
            self.block_break(in_cell)
            self.text("---")
            self.block_break(in_cell)
        elif kind in ("bulletList", "orderedList", "taskList"):
            self._list(kind, attrs, children, indent, in_cell, push)
        elif kind == "tableRow":
            push((_BREAK, None, indent, in_cell))
            for position in range(len(children) - 1, -1, -1):
                push((_NODE, children[position], indent, True))
                if position:
                    push((_MARKER, _CELL_SEPARATOR, indent, True))
            self.block_break(in_cell)
        elif kind in _BLOCKS:
            push((_BREAK, None, indent, in_cell))
            for child in reversed(children):
                push((_NODE, child, indent, in_cell))
            self.block_break(in_cell)
            title = _first_str(attrs, "title")
            if title and kind in ("expand", "nestedExpand"):
                self.text(title)
                self.block_break(in_cell)
        else:  # doc, list items outside lists, table cells, unknown nodes: their text
            for child in reversed(children):
                push((_NODE, child, indent, in_cell))
            own = node.get("text")
            if isinstance(own, str) and kind != "doc":
                self.text(own)

    def _text_block(self, children: Any, indent: str, in_cell: bool, push: Any) -> None:
        """A paragraph or heading. Its inline children are written in place, text nodes
        (most of any document) without the dispatch of other nodes; the stack only takes
        over from the first child that is not inline (rare), so most blocks never touch it."""
        self.block_break(in_cell)
        if not isinstance(children, list):
            children = ()
        for position, child in enumerate(children):
            if type(child) is dict:
                kind = child.get("type")
                if kind == "text":
                    self._text_node(child)
                    continue
                if self._inline(child, kind if isinstance(kind, str) else "", in_cell):
                    continue
            push((_BREAK, None, indent, in_cell))
            for rest in reversed(children[position:]):
                push((_NODE, rest, indent, in_cell))
            return
        self.block_break(in_cell)

    def _inline(self, node: dict, kind: str, in_cell: bool) -> bool:
        """Write an inline leaf (text, mention, emoji, card…) in place; False otherwise."""
        if kind == "text":
            self._text_node(node)
            return True
        if kind not in _INLINE_LEAVES or (kind == "inlineCard" and node.get("content")):
            return False
        attrs = _as_dict(node.get("attrs"))
        if kind == "hardBreak":
            if in_cell:
                self.block_break(True)
            else:
                self.marker("\n")
        elif kind == "mention":
            name = _first_str(attrs, "text", "displayName", "id") or ""
            self.spaced_text("@" + name.lstrip("@"))
        elif kind == "emoji":
            self.spaced_text(_first_str(attrs, "shortName", "text") or "")
        elif kind == "status":
            self.text(_first_str(attrs, "text") or "")
        elif kind == "date":
            self.text(_date_text(attrs.get("timestamp")))
        elif kind == "inlineCard":
            url = _first_str(attrs, "url") or _first_str(_as_dict(attrs.get("data")), "url")
            self.spaced_text(url or "")
        else:  # media, mediaInline
            name = _first_str(attrs, "alt", "filename", "name", "url", "id")
            self.text(f"[attachment: {name or 'file'}]")
        return True

    def _text_node(self, node: dict) -> None:
        text = node.get("text")
        if not isinstance(text, str):
            return
        self.text(text)
        if node.get("marks"):
            self._link_marks(node["marks"], text)

    def _link_marks(self, marks: Any, text: str) -> None:
        """A link mark's URL after its text (unless the text is the URL)."""
        if isinstance(marks, list):
            for mark in marks:
                if isinstance(mark, dict) and mark.get("type") == "link":
                    href = _first_str(_as_dict(mark.get("attrs")), "href")
                    if href and href != text:
                        self.text(f" ({href})")

    def _list(self, kind: str, attrs: dict, children: Any, indent: str, in_cell: bool,
              push: Any) -> None:
        start = attrs.get("order")
        number = start if type(start) is int and 0 <= start < 10**9 else 1
        inner = indent if len(indent) >= _MAX_INDENT else indent + "  "
        entries = []
        for child in children:
            if kind == "orderedList":
                marker = f"{number}. "
                number += 1
            elif kind == "taskList":
                state = _first_str(_as_dict(_as_dict(child).get("attrs")), "state")
                marker = "[x] " if state == "DONE" else "[ ] "
            else:
                marker = "- "
            entries.append((marker, child))
        push((_BREAK, None, indent, in_cell))
        for marker, child in reversed(entries):
            if isinstance(child, dict) and child.get("type") in _LIST_ITEMS:
                push((_NODE, child.get("content") if isinstance(child.get("content"), list)
                      else [], inner, in_cell))
            else:  # a stray node inside a list (or a nested list): keep its text
                push((_NODE, child, inner, in_cell))
            push((_MARKER, marker if in_cell else indent + marker, indent, in_cell))
            push((_BREAK, None, indent, in_cell))


def _kind(node: dict) -> str:
    kind = node.get("type")
    return kind if isinstance(kind, str) else ""


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _first_str(attrs: dict, *names: str) -> str | None:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _date_text(timestamp: Any) -> str:
    """ADF ``date`` nodes hold epoch milliseconds (as a string or a number)."""
    try:
        millis = int(timestamp)
        return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
