"""A small document model that reports are written in once and rendered twice: Markdown (the
archive, the API, Slack, an email's text part) and HTML (an email's HTML part).

The Markdown is GitHub-flavoured and plain: `#` headings, `-` lists, `[text](url)` links, code
spans for names (types, functions, repositories), so names with `_` or `*` need no escaping.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>"})


@dataclass(frozen=True)
class Code:
    """A name, shown as a code span."""

    text: str


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Inline = str | Code | Link
Line = tuple[Inline, ...]


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    line: Line


@dataclass(frozen=True)
class Items:
    lines: tuple[Line, ...]


Block = Heading | Paragraph | Items


def _md_inline(part: Inline) -> str:
    if isinstance(part, Code):
        return "`" + part.text.replace("`", "'") + "`"
    if isinstance(part, Link):
        return f"[{part.text.translate(_MD_SPECIAL)}]({part.href.replace(')', '%29')})"
    return part.translate(_MD_SPECIAL)


def _html_inline(part: Inline) -> str:
    if isinstance(part, Code):
        return f"<code>{html.escape(part.text)}</code>"
    if isinstance(part, Link):
        return f'<a href="{html.escape(part.href)}">{html.escape(part.text)}</a>'
    return html.escape(part)


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text.translate(_MD_SPECIAL)}")
        elif isinstance(block, Paragraph):
            out.append("".join(_md_inline(p) for p in block.line))
        else:
            out.append("\n".join("- " + "".join(_md_inline(p) for p in line)
                                 for line in block.lines))  # fmt: skip
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{''.join(_html_inline(p) for p in block.line)}</p>")
        else:
            items = "".join(
                f"<li>{''.join(_html_inline(p) for p in line)}</li>" for line in block.lines
            )
            out.append(f"<ul>{items}</ul>")
    return "\n".join(out) + "\n"
