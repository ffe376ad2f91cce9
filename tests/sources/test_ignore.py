"""Ignore rules: the go-git/Flux matcher semantics that decide what lands in an artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_flux_provider.sources.ignore import IgnoreRules, Pattern, parse_lines


def _rules(text: str) -> IgnoreRules:
    return IgnoreRules(parse_lines(text))


@pytest.mark.parametrize(
    ("patterns", "path", "is_dir", "ignored"),
    [
        ("tmp", "a/tmp/b.yaml", False, True),  # no slash: any component
        ("*.md", "docs/guide/readme.md", False, True),
        ("/deploy", "deploy/app.yaml", False, True),  # anchored, descendants too
        ("/deploy", "apps/deploy/app.yaml", False, False),
        ("deploy/*.yaml", "deploy/app.yaml", False, True),
        ("deploy/*", "deploy/sub/app.yaml", False, True),  # matching a prefix is enough
        ("deploy/*.yaml", "deploy/sub/app.yaml", False, False),
        ("/docs/**/*.md", "docs/a/b/c.md", False, True),
        ("/docs/**/*.md", "docs/c.md", False, True),
        ("/docs/**", "docs/x/y", False, True),
        ("build/", "build", False, False),  # dir-only never matches a file
        ("build/", "build", True, True),
        ("build/", "build/out.bin", False, True),
        ("/*\n!/deploy", "deploy/app.yaml", False, False),  # re-include below an excluded root
        ("/*\n!/deploy", "other.yaml", False, True),
        ("*.yaml\n!keep.yaml", "x/keep.yaml", False, False),
        ("# comment\n\n  \n", "anything", False, False),
        ("file[0-9].txt", "file7.txt", False, True),
        ("file[^0-9].txt", "file7.txt", False, False),
        ("trailing   ", "trailing", False, True),
    ],
)
def test_pattern_semantics(patterns: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert _rules(patterns)(path, is_dir) is ignored


def test_nested_sourceignore_applies_only_below_its_folder(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / ".sourceignore").write_text("*.txt\n")
    rules = IgnoreRules.for_tree(tmp_path)
    assert rules("apps/notes.txt", False)
    assert not rules("notes.txt", False)


def test_defaults_only_without_user_patterns(tmp_path: Path) -> None:
    """Flux's storage test vector: a user pattern drops the default list, never the VCS list."""
    defaults = IgnoreRules.for_tree(tmp_path)
    assert defaults(".git/config", False) and defaults("horse.jpg", False)
    assert not defaults("manifest.yaml", False)
    custom = IgnoreRules.for_tree(tmp_path, "custom")
    assert custom("custom", False) and custom(".git/config", False)
    assert not custom("horse.jpg", False)


def test_sourceignore_file_counts_as_user_pattern(tmp_path: Path) -> None:
    (tmp_path / ".sourceignore").write_text("# only a comment\nsecret.env\n")
    rules = IgnoreRules.for_tree(tmp_path)
    assert rules("secret.env", False)
    assert not rules(".github/workflows/ci.yaml", False)


def test_bucket_rules_have_no_defaults() -> None:
    rules = IgnoreRules.for_bucket("*.bin\n", "/tmp/")
    assert rules("model.bin", False) and rules("tmp/x.yaml", False)
    assert not rules("photo.png", False) and not rules(".git/config", False)


def test_malformed_bracket_matches_nothing() -> None:
    assert Pattern.parse("[abc") is not None
    assert not _rules("[abc")("[abc", False)
