"""The README and docs link only to files inside the repository, and those files exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and bare mentions of ../shared, which users of the repository never see
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve_inside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text, f"{page.name} points outside the repository"
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


def test_readme_documents_the_exit_codes() -> None:
    """The codes the CLI returns (cli/app.py) are the ones the README states."""
    from loopml.cli.app import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{EXIT_ERROR} a check failed" in text
    assert f"{EXIT_USAGE} bad\ninput or usage" in text or f"{EXIT_USAGE} bad input" in text
    assert f"{EXIT_NOT_FOUND} not found" in text
    assert (ROOT / "docs" / "architecture.md").is_file()
