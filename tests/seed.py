"""The seed lecture, read where it lives: ``../shared/seed/`` beside the repository.

Its Flux and Flagger YAML must keep working, so tests take the examples from the documents
rather than from copies; a checkout without the seed fails these tests loudly.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed"
_BLOCK = re.compile(r"```ya?ml\n(.*?)```", flags=re.S)


def documents() -> list[str]:
    """The text of every seed document, in name order."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(SEED_DIR.glob("*.txt"))]
    if not texts:
        raise FileNotFoundError(f"no seed documents (*.txt) in {SEED_DIR}")
    return texts


def yaml_blocks() -> list[str]:
    """Every fenced YAML example of the seed, in document order."""
    return [block for text in documents() for block in _BLOCK.findall(text)]


def first_object(kind: str) -> dict[str, Any]:
    """The first example whose ``kind`` is ``kind``."""
    for block in yaml_blocks():
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and doc.get("kind") == kind:
            return doc
    raise AssertionError(f"no {kind} in the seed documents under {SEED_DIR}")


def image_automation_parts() -> tuple[str, str]:
    """The ImageUpdateAutomation's commit message template, and the marked training Deployment."""
    text = "".join(documents())
    template = text.split("messageTemplate: |\n", 1)[1].split("\n    push:", 1)[0]
    marker = "# apps/ml-training/overlays/production/deployment.yaml\n"
    deployment = text.split(marker, 1)[1].split("```", 1)[0]
    return textwrap.dedent(template).rstrip("\n") + "\n", deployment
