"""spec.verify: signed commits and tags pass, unsigned or foreign-signed ones are refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.operators.sources import GitRepositoryOperator
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.git import GitRef, GitSource
from airflow_flux_provider.sources.verify import Verification, VerificationError
from flux_devkit.services.git_http import GitServer

OBJ = "GitRepository/flux-system/signed"


def _gpg_key(home: Path, uid: str) -> tuple[dict[str, str], str]:
    """A passphrase-less signing key in ``home``; returns its env and armored public key."""
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(
        [*gpg, "--quick-gen-key", uid, "ed25519", "sign", "never"], env=env, check=True, capture_output=True
    )
    public = subprocess.run(["gpg", "--armor", "--export"], env=env, check=True, capture_output=True).stdout
    return env, public.decode()


def _git(work: Path, env: dict[str, str], *args: str) -> str:
    ident = ["-c", "user.name=Signer", "-c", "user.email=signer@example.invalid"]
    done = subprocess.run(
        ["git", "-C", str(work), *ident, *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def signed(git_server: GitServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """main: a signed commit + signed tag v1.0.0; branch 'unsigned' + lightweight tag v0.1.0."""
    tmp = tmp_path_factory.mktemp("verify")
    env, public = _gpg_key(tmp / "gnupg", "Signer <signer@example.invalid>")
    _, foreign = _gpg_key(tmp / "other", "Other <other@example.invalid>")
    git_server.create_repo("verify-fleet", {"a.yaml": "a: 1\n"})
    work = tmp / "work"
    subprocess.run(
        ["git", "clone", "-q", git_server.auth_url("verify-fleet"), str(work)], check=True, env=env
    )
    (work / "a.yaml").write_text("a: 2\n")
    _git(work, env, "commit", "-q", "-S", "-am", "signed change")
    _git(work, env, "tag", "-s", "-m", "release", "v1.0.0")
    _git(work, env, "checkout", "-q", "-b", "unsigned")
    (work / "a.yaml").write_text("a: 3\n")
    _git(work, env, "commit", "-q", "-am", "unsigned change")
    _git(work, env, "tag", "v0.1.0")
    _git(work, env, "push", "-q", "origin", "main", "unsigned", "v1.0.0", "v0.1.0")
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
    yield {"public": public, "foreign": foreign}


def _source(
    git_server: GitServer, tmp_path: Path, ref: GitRef, mode: str, keys: tuple[str, ...]
) -> GitSource:
    return GitSource(
        git_server.repo_url("verify-fleet"),
        obj=OBJ,
        credentials=Credentials(username=git_server.username, password=git_server.password),
        ref=ref,
        verify=Verification(mode, keys),
        cache_dir=tmp_path / "cache",
    )


@pytest.mark.parametrize(
    ("ref", "mode"),
    [(GitRef(branch="main"), "HEAD"), (GitRef(tag="v1.0.0"), "Tag"), (GitRef(semver="1.x"), "TagAndHEAD")],
)
def test_signed_revisions_are_stored(
    git_server: GitServer, signed: dict[str, str], tmp_path: Path, ref: GitRef, mode: str
) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    result = _source(git_server, tmp_path, ref, mode, (signed["public"],)).fetch(store)
    assert result.changed and store.latest(OBJ) == result.artifact


@pytest.mark.parametrize(
    ("ref", "mode", "key", "message"),
    [
        (GitRef(branch="unsigned"), "HEAD", "public", "commit of unsigned@sha1:.* has no valid signature"),
        (GitRef(branch="main"), "HEAD", "foreign", "has no valid signature"),
        (GitRef(tag="v1.0.0"), "Tag", "foreign", "tag of v1.0.0@sha1:.* has no valid signature"),
        (GitRef(tag="v0.1.0"), "Tag", "public", "needs an annotated tag"),
        (GitRef(branch="main"), "Tag", "public", "needs an annotated tag"),
    ],
)
def test_unverified_revisions_are_refused(
    git_server: GitServer,
    signed: dict[str, str],
    tmp_path: Path,
    ref: GitRef,
    mode: str,
    key: str,
    message: str,
) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(VerificationError, match=message):
        _source(git_server, tmp_path, ref, mode, (signed[key],)).fetch(store)
    assert store.latest(OBJ) is None


def test_missing_or_garbage_keys(git_server: GitServer, signed: dict[str, str], tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(VerificationError, match="holds no armored PGP public key"):
        _source(git_server, tmp_path, GitRef(branch="main"), "HEAD", ()).fetch(store)
    garbage = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n"
    with pytest.raises(VerificationError, match="not an armored PGP public key"):
        _source(git_server, tmp_path, GitRef(branch="main"), "HEAD", (garbage,)).fetch(store)


def test_operator_reads_keys_from_the_verify_connection(
    git_server: GitServer, signed: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__FLUX__ARTIFACTS_PATH", str(tmp_path / "artifacts"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_SIGNERS",
        json.dumps({"conn_type": "flux_git", "extra": {"author.asc": signed["public"]}}),
    )
    git = {"conn_type": "flux_git", "login": git_server.username, "password": git_server.password}
    monkeypatch.setenv("AIRFLOW_CONN_VERIFY_GIT", json.dumps(git))
    spec = {
        "url": git_server.repo_url("verify-fleet"),
        "interval": "1m",
        "ref": {"branch": "main"},
        "secretRef": {"name": "verify_git"},
        "verify": {"mode": "HEAD", "secretRef": {"name": "signers"}},
    }
    op = GitRepositoryOperator(task_id="signed", name="signed", spec=spec, cache_dir=str(tmp_path / "c"))
    assert op.execute({})["changed"]
    unsigned = GitRepositoryOperator(
        task_id="unsigned",
        name="unsigned",
        spec={**spec, "ref": {"branch": "unsigned"}},
        cache_dir=str(tmp_path / "c"),
    )
    with pytest.raises(VerificationError):
        unsigned.execute({})


def test_verification_also_guards_submodule_checkouts(
    git_server: GitServer, signed: dict[str, str], tmp_path: Path
) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    source = _source(git_server, tmp_path, GitRef(branch="unsigned"), "HEAD", (signed["public"],))
    source.recurse_submodules = True
    with pytest.raises(VerificationError, match="has no valid signature"):
        source.fetch(store)
    signed_source = _source(git_server, tmp_path, GitRef(tag="v1.0.0"), "TagAndHEAD", (signed["public"],))
    signed_source.recurse_submodules = True
    assert signed_source.fetch(store).changed
