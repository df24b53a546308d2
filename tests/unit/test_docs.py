"""The README and docs/ stay true: generated tables match the metric files, links resolve, the tree and the diagram
match the repository, and the README's commands are the ones CI runs. After a `dvc repro` that changes the
figures: uv run python -m tests.support.docs"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.docs import (
    NO_FIGURE,
    REPO,
    TABLES,
    baseline_figures,
    baseline_names,
    behaviour_figures,
    calibration_figures,
    candidate_figures,
    candidate_names,
    card_table,
    champion,
    champion_rows,
    figure_in,
    marked_block,
    table_rows,
)

DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
README = REPO / "README.md"
# Markdown links and images: [text](target) and ![alt](target); the target ends at a space or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def exists(relative: str) -> bool:
    return (REPO / relative).exists()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def rows_by_model(block: str) -> dict[str, list[str]]:
    """A table's rows keyed by the first `name` in backticks of their first cell; a name twice is an error."""
    rows: dict[str, list[str]] = {}
    for cells in table_rows(block):
        found = re.search(r"`([^`]+)`", cells[0])
        assert found, f"row without a `name` in its first cell: {cells}"
        assert found.group(1) not in rows, f"{found.group(1)} has two rows"
        rows[found.group(1)] = cells
    return rows


@pytest.mark.parametrize("relative, name", [(file, name) for file, tables in TABLES.items() for name in tables])
def test_each_generated_table_is_marked_once(relative: str, name: str) -> None:
    assert marked_block(read(REPO / relative), name).strip()


def test_candidates_table_has_one_row_per_candidate_and_baseline() -> None:
    rows = rows_by_model(marked_block(read(REPO / "docs" / "models.md"), "candidates-table"))
    expected = candidate_names() + baseline_names()
    assert list(rows) == expected, "one row per train.candidates entry (params.yaml order), then one per baseline"


def test_candidates_table_figures_are_the_metric_files() -> None:
    rows = rows_by_model(marked_block(read(REPO / "docs" / "models.md"), "candidates-table"))
    baselines = set(baseline_names())
    for name, cells in rows.items():
        figures = baseline_figures(name) if name in baselines else candidate_figures(name)
        written = [figure_in(cell) for cell in cells[1:]]
        assert written == list(figures.values()), f"{name}: the table says {written}, the metric files {figures}"


def test_candidates_table_marks_the_selected_champion_and_only_it() -> None:
    rows = rows_by_model(marked_block(read(REPO / "docs" / "models.md"), "candidates-table"))
    marked = [name for name, cells in rows.items() if "champion" in cells[0]]
    assert marked == [champion()], f"models/selected.json names {champion()}; the table marks {marked}"


@pytest.mark.parametrize(
    "table, figures", [("behaviour-table", behaviour_figures), ("calibration-table", calibration_figures)]
)
def test_behaviour_and_calibration_tables_are_the_metric_files(table: str, figures) -> None:
    rows = rows_by_model(marked_block(read(REPO / "docs" / "models.md"), table))
    assert list(rows) == candidate_names(), "one row per train.candidates entry (params.yaml order)"
    for name, cells in rows.items():
        assert cells[1:] == list(figures(name).values()), f"{table}, {name}: uv run python -m tests.support.docs"
    assert [name for name, cells in rows.items() if "champion" in cells[0]] == [champion()]


def test_readme_champion_table_is_the_selected_champion() -> None:
    block = marked_block(read(README), "champion-table")
    assert f"`{champion()}`" in block.splitlines()[0]
    written = [(cells[0], cells[1]) for cells in table_rows(block)]
    assert written == champion_rows(), "README's champion table: uv run python -m tests.support.docs"
    assert all(figure != NO_FIGURE for _, figure in written)


def test_readme_card_table_is_the_served_models_card() -> None:
    assert marked_block(read(README), "card-table") == card_table()


def test_readme_confusion_matrix_is_the_champions() -> None:
    images = [target for target in LINK.findall(read(README)) if target.endswith("confusion.png")]
    assert images == [f"plots/{champion()}/confusion.png"]


def link_targets(path: Path) -> list[str]:
    return [target for target in LINK.findall(read(path)) if not re.match(r"[a-z]+:", target)]


def slugs(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, -1, -2 for repeats."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", read(path))):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        candidate, number = slug, 0
        while candidate in found:
            number += 1
            candidate = f"{slug}-{number}"
        found.add(candidate)
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_relative_links_and_images_resolve(path: Path) -> None:
    broken = []
    for target in link_targets(path):
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        relative = resolved.relative_to(REPO).as_posix()
        if not exists(relative):
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and resolved.exists() and anchor not in slugs(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.name} links to what is not there: {broken}"


def readme_tree() -> list[str]:
    """The paths the README's tree names, nested by indentation: `  model/` under `pipeline/` is pipeline/model/."""
    block = marked_block(read(README), "tree")
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("```")]
    paths, parents = [], []  # parents: (indent, folder) from the outermost in
    for line in lines:
        indent = len(line) - len(line.lstrip())
        names = re.split(r"\s{3,}", line.strip())[0].split()  # names, then 3+ spaces, then what they hold
        parents = [(depth, folder) for depth, folder in parents if depth < indent]
        prefix = "".join(folder for _, folder in parents)
        paths += [prefix + name for name in names]
        if len(names) == 1 and names[0].endswith("/"):
            parents.append((indent, names[0]))
    return paths


def test_readme_tree_names_only_what_exists() -> None:
    paths = readme_tree()
    assert "pipeline/stages/" in paths and "params.yaml" in paths, paths
    missing = [path for path in paths if not exists(path)]
    assert not missing, f"README's tree names {missing}"


def test_readme_tree_lists_every_folder_of_the_package() -> None:
    folders = {f"pipeline/{path.name}/" for path in (REPO / "pipeline").iterdir() if (path / "__init__.py").exists()}
    assert folders <= set(readme_tree()), f"add to README's tree: {sorted(folders - set(readme_tree()))}"


def dvc_stages() -> dict[str, dict]:
    return yaml.safe_load(read(REPO / "dvc.yaml"))["stages"]


def data_paths(stage: dict) -> list[str]:
    """A stage's data deps and outputs (code under pipeline/ left out), `${key}` written as `{name}`."""
    body = stage.get("do", stage)
    paths = list(body.get("deps", []))
    for kind in ("outs", "metrics", "plots"):
        paths += [next(iter(entry)) if isinstance(entry, dict) else entry for entry in body.get(kind, [])]
    return [path.replace("${key}", "{name}") for path in paths if not path.startswith("pipeline/")]


def test_readme_diagram_shows_every_stage_and_its_files() -> None:
    diagram = marked_block(read(README), "diagram")
    assert diagram.startswith("```mermaid")
    for name, stage in dvc_stages().items():
        shown = f"{name}@" if "foreach" in stage else name
        assert re.search(rf"\(\[\"{re.escape(shown)}", diagram), f"the diagram has no stage node for {shown}"
        for path in data_paths(stage):
            # A file is shown by its own path or by its folder's, e.g. plots/{name}/ for plots/{name}/roc.csv.
            options = [path, *(parent.as_posix() + "/" for parent in Path(path).parents if parent != Path("."))]
            assert any(option in diagram for option in options), f"the diagram does not show {path} ({name})"


def test_pipeline_doc_has_a_row_per_stage() -> None:
    rows = rows_by_model(read(REPO / "docs" / "pipeline.md").split("## Stages", 1)[1].split("\n\n", 2)[1])
    expected = [f"{name}@<name>" if "foreach" in stage else name for name, stage in dvc_stages().items()]
    assert list(rows) == expected


def test_readme_commands_are_the_ones_ci_runs() -> None:
    ci = read(REPO / ".ci" / "run")
    block = read(README).split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("&&")[-1].strip() for line in block.splitlines() if line.startswith("python3 ")]
    assert commands == ["python3 -m uv run dvc repro", "python3 -m uv run pytest"]
    for command in commands:
        assert re.search(rf"^{re.escape(command)}$", ci, re.MULTILINE), f".ci/run does not run `{command}`"
    assert "python3 -m pip install" in ci and "uv" in ci
