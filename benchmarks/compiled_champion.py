"""What the in-process benchmarks share: the options naming a model and reviews, and the model they load.

A benchmark of the compiled scorer refuses a model that the scorer does not serve, rather than timing numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.corpus.splits import read_split
from pipeline.model import NgramLinearModel, load

ROOT = Path(__file__).resolve().parents[1]


def arguments(description: str, rounds: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, help="a saved model folder (default: the selected champion)")
    parser.add_argument("--reviews", type=Path, default=ROOT / "data" / "prepared" / "test.jsonl")
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser


def compiled_champion(args: argparse.Namespace) -> tuple[Path, list[str], NgramLinearModel]:
    """(the model's folder, the reviews' texts, the model) or exit naming why the compiled scorer does not serve it."""
    model_dir = args.model or ROOT / json.loads((ROOT / "models" / "selected.json").read_text())["model_dir"]
    _, texts, _ = read_split(args.reviews)
    model = load(model_dir)
    if not isinstance(model, NgramLinearModel) or model.table.compiled is None:
        sys.exit(f"{model_dir} is not served by the compiled scorer (not an n-gram model, or the module is not built)")
    return model_dir, texts, model
