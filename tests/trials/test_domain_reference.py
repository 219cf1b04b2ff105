"""The clinical domain reference lives in the repository, and users never see a document section cited.

Code comments and docstrings cite ``docs/domain.md §n``; every such citation must name a section that
exists. Messages, help texts and templates (what a user reads) explain the rule in words instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
DOMAIN = ROOT / "docs" / "domain.md"
PACKAGES = ("trials", "analytics", "apicore", "config")
CITATION = re.compile(r"docs/domain\.md((?:\s*§\s*\d+(?:,\s*)?)+)")
DOCUMENT_REFERENCE = re.compile(r"domain\.md|DOMAIN\.md|§\s*\d")


def _python_files():
    for package in PACKAGES:
        yield from (p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def test_every_citation_names_an_existing_section():
    sections = {int(n) for n in re.findall(r"^## (\d+)\.", DOMAIN.read_text(encoding="utf-8"), flags=re.M)}
    assert sections == set(range(1, max(sections) + 1))  # numbered without gaps: citations stay meaningful
    cited = {}
    for path in [*_python_files(), *(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            for number in re.findall(r"\d+", match.group(1)):
                cited.setdefault(int(number), path.relative_to(ROOT))
    assert cited, "nothing cites docs/domain.md"
    unknown = {n: str(p) for n, p in cited.items() if n not in sections}
    assert not unknown


def test_no_user_facing_string_cites_a_document_section():
    offenders = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                # A regulation's own section (21 CFR Part 11 §11.200) is a legal reference, not our document.
                if DOCUMENT_REFERENCE.search(node.value) and "CFR" not in node.value:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:80]}")
    for template in [*ROOT.glob("trials/templates/**/*.html"), *ROOT.glob("analytics/templates/**/*.html")]:
        for lineno, line in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
            if DOCUMENT_REFERENCE.search(line):
                offenders.append(f"{template.relative_to(ROOT)}:{lineno}: {line.strip()[:80]}")
    assert not offenders, "\n".join(offenders)
