"""The docs' tables, made from the metric files so they cannot go stale. Run: uv run python -m tests.support.docs

A table lives between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a markdown file; this module rewrites what is
between the two comments and tests/unit/test_docs.py parses it back and checks every figure against the files.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pipeline.behaviour import TESTS
from pipeline.model_card import LENGTH_BANDS

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
NO_FIGURE = "—"


def percent(value: float) -> str:
    """A fraction as a percentage with 2 decimals: the one format every generated table uses."""
    return f"{100 * value:.2f}"


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def candidate_names(root: Path = REPO) -> list[str]:
    """train.candidates in params.yaml order: the rows the candidates table must have."""
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    return list(params["train"]["candidates"])


def baseline_names(root: Path = REPO) -> list[str]:
    return sorted(path.stem for path in (root / "metrics" / "baselines").glob("*.json"))


def champion(root: Path = REPO) -> str:
    return read_json(root / "models" / "selected.json")["champion"]


def mean_and_spread(scores: dict[str, Any], key: str = "accuracy") -> str:
    return f"{percent(scores[key])} ± {percent(scores[key + '_std'])}"


def candidate_figures(name: str, root: Path = REPO) -> dict[str, str]:
    """One candidate's cells: train CV and corpus CV as mean ± spread over folds, test accuracy, all in %."""
    folder = root / "metrics" / "candidates" / name
    cv, test = read_json(folder / "cv.json"), read_json(folder / "test.json")
    corpus = cv.get("corpus_cv")
    return {
        "train CV": mean_and_spread(cv),
        "corpus CV": mean_and_spread(corpus) if corpus else NO_FIGURE,
        "test": percent(test["accuracy"]),
    }


def baseline_figures(name: str, root: Path = REPO) -> dict[str, str]:
    """A pre-made model is not trained, so it has a test score only."""
    test = read_json(root / "metrics" / "baselines" / f"{name}.json")
    return {"train CV": NO_FIGURE, "corpus CV": NO_FIGURE, "test": percent(test["accuracy"])}


CANDIDATE_COLUMNS = ("train CV", "corpus CV", "test")


def candidates_table(root: Path = REPO) -> str:
    """Every candidate of params.yaml, then every baseline; the champion's name and selection score in bold."""
    best = champion(root)
    lines = ["| model | " + " | ".join(CANDIDATE_COLUMNS) + " |", "|---" * (1 + len(CANDIDATE_COLUMNS)) + "|"]
    for name in candidate_names(root):
        cells = candidate_figures(name, root)
        label = f"`{name}`"
        if name == best:
            label = f"**`{name}`** (champion)"
            mean, spread = cells["train CV"].split(" ± ")
            cells["train CV"] = f"**{mean}** ± {spread}"
        lines.append(f"| {label} | " + " | ".join(cells[column] for column in CANDIDATE_COLUMNS) + " |")
    for name in baseline_names(root):
        cells = baseline_figures(name, root)
        lines.append(f"| `{name}` (baseline) | " + " | ".join(cells[column] for column in CANDIDATE_COLUMNS) + " |")
    return "\n".join(lines)


def champion_rows(root: Path = REPO) -> list[tuple[str, str]]:
    """The champion's accuracy on the three protocols, each named with its size so the row reads alone."""
    selected = read_json(root / "models" / "selected.json")
    name = selected["champion"]
    cv = read_json(root / "metrics" / "candidates" / name / "cv.json")
    test = read_json(root / "metrics" / "candidates" / name / "test.json")
    rows = [(f"train split, {cv['folds']}-fold CV (the score `select` compares)", f"{mean_and_spread(cv)} %")]
    if corpus := cv.get("corpus_cv"):
        protocol = f"whole corpus, {corpus['folds']}-fold CV (the protocol of published results)"
        rows.append((protocol, f"{mean_and_spread(corpus)} %"))
    rows.append((f"test split, {test['documents']} held-out reviews", f"{percent(test['accuracy'])} %"))
    return rows


def champion_table(root: Path = REPO) -> str:
    lines = [f"| champion: `{champion(root)}` | accuracy |", "|---|---|"]
    lines += [f"| {where} | {figure} |" for where, figure in champion_rows(root)]
    return "\n".join(lines)


def card_table(root: Path = REPO) -> str:
    """The served model's card at a glance: test accuracy per length band and source, each with its Wilson 95 %
    interval, and where its limits are written down."""
    card = read_json(root / "models" / "card.json")
    metrics = card["metrics"]
    lines = [
        # No version number: it is the MLflow store's count, 1 in a fresh clone's store, more in a used one.
        f"| `{card['name']}` champion (`{card['candidate']}`) | test reviews | accuracy | 95 % interval |",
        "|---|---|---|---|",
    ]
    groups = [("all", metrics["test"]["accuracy"])]
    bands = metrics["test_by_length"]  # in the card's own order: card.json's keys are sorted
    groups += [(f"{band.replace('<=', '≤ ').replace('>', '> ')} tokens", bands[band]) for band, *_ in LENGTH_BANDS]
    groups += [(f"source {source}", row) for source, row in metrics["test_by_source"].items()]
    for where, row in groups:
        if row["documents"]:
            low, high = row["interval_95"]
            figures = f"{percent(row['accuracy'])} % | {percent(low)}-{percent(high)} %"
        else:
            figures = f"{NO_FIGURE} | {NO_FIGURE}"
        lines.append(f"| {where} | {row['documents']} | {figures} |")
    return "\n".join(lines)


BEHAVIOUR_COLUMNS = TESTS


def behaviour_figures(name: str, root: Path = REPO) -> dict[str, str]:
    """Failed/cases per behavioural test, and the floors select found it breaks ("—" when it may be champion)."""
    behaviour = read_json(root / "metrics" / "candidates" / name / "behaviour.json")
    barred = read_json(root / "models" / "selected.json").get("barred", {}).get(name, [])
    cells = {test: f"{behaviour[test]['failed']}/{behaviour[test]['cases']}" for test in BEHAVIOUR_COLUMNS}
    return cells | {"over its floor": ", ".join(floor.split()[0] for floor in barred) or NO_FIGURE}


CALIBRATION_COLUMNS = ("CV Brier", "CV log loss", "CV ECE", "test Brier", "test log loss", "test ECE")


def calibration_figures(name: str, root: Path = REPO) -> dict[str, str]:
    """Brier score, log loss and ECE of P(positive), out of fold on the train split and on the test split."""
    folder = root / "metrics" / "candidates" / name
    cells = {}
    for split in ("cv", "test"):
        scores = read_json(folder / f"{split}.json")["calibration"]
        for key, label in (("brier", "Brier"), ("log_loss", "log loss"), ("ece", "ECE")):
            cells[f"{split.upper() if split == 'cv' else split} {label}"] = f"{scores[key]:.3f}"
    return cells


def per_candidate_table(columns: tuple[str, ...], figures: Callable[[str, Path], dict[str, str]], root: Path) -> str:
    """One row per candidate in params.yaml order, the champion's name in bold; every cell from `figures`."""
    best = champion(root)
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (1 + len(columns)) + "|"]
    for name in candidate_names(root):
        cells = figures(name, root)
        label = f"**`{name}`** (champion)" if name == best else f"`{name}`"
        lines.append(f"| {label} | " + " | ".join(cells[column] for column in columns) + " |")
    return "\n".join(lines)


def behaviour_table(root: Path = REPO) -> str:
    return per_candidate_table((*BEHAVIOUR_COLUMNS, "over its floor"), behaviour_figures, root)


def calibration_table(root: Path = REPO) -> str:
    return per_candidate_table(CALIBRATION_COLUMNS, calibration_figures, root)


# Which file holds which generated table.
TABLES: dict[str, dict[str, Callable[[Path], str]]] = {
    "README.md": {"champion-table": champion_table, "card-table": card_table},
    "docs/models.md": {
        "candidates-table": candidates_table,
        "behaviour-table": behaviour_table,
        "calibration-table": calibration_table,
    },
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def marked_block(text: str, name: str) -> str:
    """What lies between a table's two comments; a missing or doubled comment is an error, not an empty table."""
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"expected one {start} followed by one {end}")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def replace_block(text: str, name: str, body: str) -> str:
    marked_block(text, name)  # the same checks
    start, end = markers(name)
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n{body}\n{end}{after}"


def table_rows(block: str) -> list[list[str]]:
    """A markdown table's body rows as stripped cells; the header and the |---| line are left out."""
    lines = [line.strip() for line in block.splitlines() if line.strip().startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


FIGURE = re.compile(r"\d+\.\d+(?: ± \d+\.\d+)?|" + NO_FIGURE)


def figure_in(cell: str) -> str:
    """A cell's figure without the bold: `**89.69** ± 0.88` reads as `89.69 ± 0.88`."""
    found = FIGURE.search(cell.replace("**", ""))
    return found.group(0) if found else cell


def rewrite(root: Path = REPO) -> list[str]:
    """Rewrite every generated table in place; returns the files that changed."""
    changed = []
    for relative, tables in TABLES.items():
        path = root / relative
        text = path.read_text(encoding="utf-8")
        new = text
        for name, build in tables.items():
            new = replace_block(new, name, build(root))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(relative)
    return changed


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    changed = rewrite()
    log.info("rewrote %s", ", ".join(changed) if changed else "nothing: every table matches the metric files")


if __name__ == "__main__":
    main()
