"""Docstrings and comments cite documents in the repository's ``docs/``, and every
cited section exists (docs/architecture.md)."""

from __future__ import annotations

import re
from pathlib import Path

import spurline

SRC = Path(spurline.__file__).resolve().parent
DOCS = SRC.parents[1] / "docs"
REF = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")
OUTSIDE = re.compile(r"SPEC §|STYLE habit|\b[Ii]ssue \d+")


def anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of a Markdown file's headings."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def broken_refs(sources: dict[str, str], docs: dict[str, str]) -> list[str]:
    """``where: ref`` for each reference to a missing doc or section, and each
    reference to a document outside the repository."""
    bad = []
    for where, text in sorted(sources.items()):
        for m in REF.finditer(text):
            name, anchor = m.group(1), m.group(2)
            if name not in docs or (anchor and anchor not in anchors(docs[name])):
                bad.append(f"{where}: {m.group(0)}")
        bad += [f"{where}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    return bad


def test_every_docs_reference_resolves() -> None:
    sources = {str(p.relative_to(SRC)): p.read_text() for p in SRC.rglob("*.py")}
    docs = {p.name: p.read_text() for p in DOCS.glob("*.md")}
    assert sum(len(REF.findall(t)) for t in sources.values()) > 50
    assert broken_refs(sources, docs) == []


def test_the_check_would_notice_a_bad_reference() -> None:
    docs = {"a.md": "# A\n## Pause, cancel, retry\n"}
    sources = {
        "x.py": '"""ok: docs/a.md#pause-cancel-retry, gone: docs/a.md#nope, docs/b.md"""',
        "y.py": "# see SPEC §5 and issue 3",
    }
    assert broken_refs(sources, docs) == [
        "x.py: docs/a.md#nope",
        "x.py: docs/b.md",
        "y.py: SPEC §",
        "y.py: issue 3",
    ]
