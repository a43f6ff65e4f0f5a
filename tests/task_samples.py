"""Tiny datasets shared by the featurizer tests (imported by name: pytest puts this folder on sys.path)."""
from __future__ import annotations

import json
from pathlib import Path

ROWS = [
    {"question": "What is two plus two?", "answer": "4"},
    {"question": "Name the capital of France.", "answer": "Paris"},
    {"question": "Is the sky blue?", "answer": "yes"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
