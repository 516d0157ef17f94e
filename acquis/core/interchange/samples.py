"""The frameworks shipped as package data, for trying acquis out or starting a framework of one's own."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

import yaml

SAMPLE_DIR = ("data", "frameworks")


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    path: Traversable


def sample_dir() -> Traversable:
    return resources.files("acquis").joinpath(*SAMPLE_DIR)


def samples() -> list[Sample]:
    found = []
    for entry in sorted(sample_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")) and entry.is_file():
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            title = str(data.get("title", "")) if isinstance(data, dict) else ""
            found.append(Sample(entry.name.rsplit(".", 1)[0], title, entry))
    return found
