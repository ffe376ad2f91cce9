"""One image-reference parser: Docker's normalisation, distribution's grammar, hostile names refused."""

from __future__ import annotations

import pytest

from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.oci.errors import ImageReferenceError
from airflow_flux_provider.oci.reference import ImageReference

BAD = [
    ("", "is empty"),
    ("https://ghcr.io/org/app", "must not have a scheme"),
    ("ghcr.io/Org/App", "not a valid repository name"),
    ("app//x", "not a valid repository name"),
    ("ghcr.io/org/app/", "not a valid repository name"),
    ("-ghcr.io/app", "not a host"),
    ("--insecure/app", "not a valid repository name"),
    ("ghcr.io/org/-app", "not a valid repository name"),
    ("ghcr.io/org/app_", "not a valid repository name"),
    ("ghcr.io/org/a..b", "not a valid repository name"),
    ("ghcr.io/org/app:-x", "has a tag"),
    ("ghcr.io/org/app:.x", "has a tag"),
    ("ghcr.io/org/app:" + "t" * 129, "has a tag"),
    ("ghcr.io/org/app@sha256:abc", "has a digest"),
    ("ghcr.io/org/app@md5", "has a digest"),
    ("ghcr.io/org/app@sha256:" + "A" * 64, "sha256 digest"),
    ("ghcr.io/org/a\nb", "not a valid repository name"),
    ("ghcr.io/org/a b", "not a valid repository name"),
    ("gh cr.io/org/app", "not a host"),
    ("ghcr.io:port/app", "not a host"),
    ("ghcr.io/" + "a/" * 130 + "b", "longer than 255"),
    ("x" * 10_000, "longer than 255"),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
def test_bad_references_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ImageReferenceError) as info:
        ImageReference.parse(text, obj="ImageRepository/flux-system/app", field="spec.image")
    assert problem in info.value.message
    assert (info.value.obj, info.value.field) == ("ImageRepository/flux-system/app", "spec.image")
    assert len(str(info.value)) < 1000  # a huge value is not repeated in full


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "api_host"),
    [
        ("nginx", "docker.io", "library/nginx", None, None, "registry-1.docker.io"),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None, "registry-1.docker.io"),
        ("bitnami/nginx", "docker.io", "bitnami/nginx", None, None, "registry-1.docker.io"),
        ("docker.io/nginx", "docker.io", "library/nginx", None, None, "registry-1.docker.io"),
        ("index.docker.io/org/app", "docker.io", "org/app", None, None, "registry-1.docker.io"),
        ("registry-1.docker.io/org/app", "docker.io", "org/app", None, None, "registry-1.docker.io"),
        ("ghcr.io/org/team/app:v1.2.3", "ghcr.io", "org/team/app", "v1.2.3", None, "ghcr.io"),
        ("localhost/app", "localhost", "app", None, None, "localhost"),
        ("Registry/app", "Registry", "app", None, None, "Registry"),
        ("127.0.0.1:5000/a__b/c-d.e", "127.0.0.1:5000", "a__b/c-d.e", None, None, "127.0.0.1:5000"),
        ("[::1]:5000/app:latest", "[::1]:5000", "app", "latest", None, "[::1]:5000"),
        (
            "ghcr.io/org/app:1.0@sha256:" + "a" * 64,
            "ghcr.io",
            "org/app",
            "1.0",
            "sha256:" + "a" * 64,
            "ghcr.io",
        ),
        ("ghcr.io/org/app@sha512:" + "b" * 128, "ghcr.io", "org/app", None, "sha512:" + "b" * 128, "ghcr.io"),
    ],
)
def test_docker_normalisation(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None, api_host: str
) -> None:
    ref = ImageReference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.api_host) == (
        registry,
        repository,
        tag,
        digest,
        api_host,
    )
    assert ImageReference.parse(str(ref)) == ref


def test_errors_arrive_in_the_callers_family() -> None:
    with pytest.raises(ImageError, match=r"field spec\.image: image 'UPPER/Case' is not"):
        ImageReference.parse("UPPER/Case", obj="ImagePolicy/apps/web", field="spec.image", error=ImageError)


def test_at_a_tag_or_a_digest() -> None:
    ref = ImageReference.parse("ghcr.io/org/app")
    assert str(ref.at("v2")) == "ghcr.io/org/app:v2"
    assert str(ref.at("sha256:" + "c" * 64)) == "ghcr.io/org/app@sha256:" + "c" * 64
