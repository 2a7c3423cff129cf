"""Every benchmark figure in docs/benchmarks.md and README.md comes from a committed result file.

The figures sit in ``<!-- figures:NAME -->`` blocks that ``benchmarks/render_docs.py`` renders
from ``benchmarks/results/NAME.json``; rendering again must give the same text, each block of
docs/benchmarks.md must name its result file, and no figure may sit outside the blocks.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
MONITORING_MD = ROOT / "docs" / "monitoring.md"
PIPELINES_MD = ROOT / "docs" / "pipelines.md"
UI_MD = ROOT / "docs" / "ui.md"
STAGES = {
    "tracking",
    "data",
    "registry",
    "evaluation",
    "serving",
    "serving_ablations",
    "serving_soak",
    "pipelines",
    "monitoring",
    "ui",
}
#: A measured figure: a number with a unit of time, memory or rate, or a ratio like ``5.5x``.
FIGURE = re.compile(
    r"\b\d[\d,]*(\.\d+)?\s?(ms|MB|req/s|rows/s|points/s|runs/s)(?![\w/])|\b\d+(\.\d+)?x\b"
)


@pytest.fixture(scope="module")
def render_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_docs", ROOT / "benchmarks" / "render_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_docs"] = module
    spec.loader.exec_module(module)
    return module


def _outside_blocks(render_docs: ModuleType, text: str) -> str:
    return render_docs.BLOCK.sub("", text)


def _speed_section(text: str) -> str:
    return text.split("## Speed", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    "path", [BENCHMARKS_MD, README, MONITORING_MD, PIPELINES_MD, UI_MD], ids=lambda p: p.name
)
def test_rendering_again_gives_the_same_text(render_docs: ModuleType, path: Path) -> None:
    text = path.read_text()
    assert render_docs.blocks(text), f"{path.name} has no figures block"
    assert render_docs.render(text) == text, (
        f"{path.name} differs from its result files: run `python benchmarks/render_docs.py`"
    )


def test_every_stage_has_a_block_naming_its_result_file(render_docs: ModuleType) -> None:
    found = render_docs.blocks(BENCHMARKS_MD.read_text())
    assert {name.removesuffix(".quick") for name, _ in found} >= STAGES
    for name, body in found:
        assert f"`benchmarks/results/{name}.json`" in body
        assert (ROOT / "benchmarks" / "results" / f"{name}.json").exists()


def test_every_table_of_benchmarks_md_is_inside_a_block(render_docs: ModuleType) -> None:
    outside = _outside_blocks(render_docs, BENCHMARKS_MD.read_text())
    tables = [line for line in outside.splitlines() if line.startswith("|")]
    assert tables == []


@pytest.mark.parametrize(
    ("path", "section"),
    [(BENCHMARKS_MD, lambda t: t), (README, _speed_section)],
    ids=["benchmarks.md", "README.md"],
)
def test_no_figure_outside_the_blocks(render_docs: ModuleType, path: Path, section: object) -> None:
    text = section(path.read_text())  # type: ignore[operator]
    outside = _outside_blocks(render_docs, text)
    assert [m.group(0) for m in FIGURE.finditer(outside)] == []


def test_a_changed_result_is_seen(
    render_docs: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check has teeth: one figure changed in a result file changes the rendered doc."""
    results = tmp_path / "results"
    shutil.copytree(ROOT / "benchmarks" / "results", results)
    path = results / "serving_ablations.json"
    data = json.loads(path.read_text())
    data["comparisons"][0]["loopml"] *= 3
    path.write_text(json.dumps(data))
    monkeypatch.setattr(render_docs, "RESULTS", results)
    text = BENCHMARKS_MD.read_text()
    assert render_docs.render(text) != text


def test_a_block_without_a_result_file_is_refused(
    render_docs: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_docs, "RESULTS", tmp_path)
    text = "<!-- figures:tracking -->\nold\n<!-- /figures -->\n"
    with pytest.raises(SystemExit, match=r"tracking\.json does not exist"):
        render_docs.render(text)


def test_figure_pattern_catches_the_usual_units() -> None:
    found = FIGURE.findall("0.17 ms, 198 MB, 2,447 req/s, 5.5x, 10 s, 32 clients, 1,000 rows")
    assert len(found) == 4
