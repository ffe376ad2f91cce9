"""Refspecs and ref names as git checks them: hostile values are refused before any git runs."""

from __future__ import annotations

import pytest

from airflow_flux_provider.git.refs import RefSpec, branch_problem
from airflow_flux_provider.specs import SpecError, parse_object

BAD_REFSPECS = [
    ("--receive-pack=touch /tmp/pwned", "starts with '-'"),
    ("-x:refs/heads/main", "starts with '-'"),
    ("HEAD:--upload-pack=x", "destination '--upload-pack=x' starts with '-'"),
    ("--dry-run", "starts with '-'"),
    ("+HEAD:refs/heads/main", "forces the update"),
    (":refs/heads/main", "empty source"),
    ("refs/heads/main", "exactly one ':'"),
    ("a:b:c", "exactly one ':'"),
    ("HEAD:", "is empty"),
    ("HEAD:refs/heads/../etc", "contains '..'"),
    ("HEAD:refs/heads/x.lock", "ending with '.lock'"),
    ("HEAD:refs/heads/.hidden", "starting with '.'"),
    ("HEAD:refs/heads/a b", "contains ' '"),
    ("HEAD:refs/heads/a\nb", "contains '\\n'"),
    ("HEAD:refs/heads/a\x00b", "contains '\\x00'"),
    ("HEAD:refs/heads/x@{1}", "contains '@{'"),
    ("HEAD:refs/heads/x/", "empty path component"),
    ("HEAD:refs//heads", "empty path component"),
    ("HEAD:refs/heads/x.", "ends with '.'"),
    ("refs/heads/*:refs/heads/*", "contains '*'"),
    ("HEAD:refs/heads/a~1", "contains '~'"),
    ("HEAD:refs/heads/a^", "contains '^'"),
    ("HEAD:refs/heads/a\\b", "contains '\\\\'"),
    ("HEAD:" + "x/" * 600 + "y", "longer than 1024"),
    ("HEAD:@", "is '@'"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_REFSPECS)
def test_bad_refspecs_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        RefSpec.parse(text)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("text", "src", "dst"),
    [
        ("HEAD:refs/for/main", "HEAD", "refs/for/main"),
        ("refs/heads/main:refs/heads/auto", "refs/heads/main", "refs/heads/auto"),
        ("main:auto/review-1.2", "main", "auto/review-1.2"),
        ("a" * 40 + ":refs/heads/pinned", "a" * 40, "refs/heads/pinned"),
    ],
)
def test_good_refspecs(text: str, src: str, dst: str) -> None:
    spec = RefSpec.parse(text)
    assert (spec.src, spec.dst, str(spec)) == (src, dst, text)


@pytest.mark.parametrize(
    ("name", "problem"),
    [("-f", "starts with '-'"), ("HEAD", "is 'HEAD'"), ("a..b", "'..'"), ("feat/x", None), ("v1.2", None)],
)
def test_branch_names(name: str, problem: str | None) -> None:
    found = branch_problem(name)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def _automation(push: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "git": {"commit": {"author": {"email": "bot@example.com"}}, "push": push},
        },
    }


@pytest.mark.parametrize(
    ("push", "field", "problem"),
    [
        ({"refspec": "--receive-pack=touch /tmp/pwned"}, "spec.git.push.refspec", "starts with '-'"),
        ({"refspec": "+refs/heads/main:refs/heads/main"}, "spec.git.push.refspec", "drop the '+'"),
        ({"branch": "--force"}, "spec.git.push.branch", "starts with '-'"),
        ({"branch": "auto", "options": {"ci.skip": "a\nb"}}, "spec.git.push.options", "line break"),
    ],
)
def test_the_spec_model_refuses_them(push: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_object(_automation(push))
    assert info.value.field == field and problem in info.value.message
    assert info.value.obj == "ImageUpdateAutomation/flux-system/apps"


def test_gitrepository_ref_names_are_checked() -> None:
    manifest = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": "flux-system"},
        "spec": {
            "interval": "1m",
            "url": "https://example.com/app.git",
            "ref": {"branch": "--upload-pack=x"},
        },
    }
    with pytest.raises(SpecError, match="starts with '-'") as info:
        parse_object(manifest)
    assert info.value.field == "spec.ref.branch"
    manifest["spec"]["ref"] = {"name": "refs/tags/v1.0.0^{}"}  # type: ignore[index]
    assert parse_object(manifest).spec.ref.name == "refs/tags/v1.0.0^{}"  # type: ignore[attr-defined]
