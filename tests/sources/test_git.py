"""GitSource against the real smart-HTTP server (basic auth) and file:// bare repositories."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.errors import RevisionNotFoundError, SourceError
from airflow_flux_provider.sources.git import GitAuthError, GitRef, GitSource, GitUnreachableError, Include
from airflow_flux_provider.tools import git_path
from flux_devkit.services.git_http import GitServer, start_git_server

OBJ = "GitRepository/flux-system/podinfo"
FILES: dict[str, str | bytes] = {
    "apps/podinfo.yaml": "replicas: 1\n",
    "logo.png": b"\x89PNG",
    ".github/workflows/ci.yaml": "on: push\n",
    "docs/readme.md": "# docs\n",
}


def _tag(bare: Path, name: str, sha: str, *, annotated: bool = False) -> None:
    args = ["-a", "-m", f"release {name}"] if annotated else []
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([git_path(), "-C", str(bare), *ident, "tag", *args, name, sha], check=True)


@pytest.fixture(scope="module")
def fleet(git_server: GitServer) -> Iterator[dict[str, str]]:
    """A repo with branches and tags: v1.0.0 (light), v1.1.0 (annotated), v2.0.0-rc.1, main ahead."""
    git_server.create_repo("src-fleet", FILES)
    bare = git_server.repo_path("src-fleet")
    shas = {"v1.0.0": git_server.commit("src-fleet", {"apps/podinfo.yaml": "replicas: 2\n"})}
    _tag(bare, "v1.0.0", shas["v1.0.0"])
    shas["v1.1.0"] = git_server.commit("src-fleet", {"apps/podinfo.yaml": "replicas: 3\n"})
    _tag(bare, "v1.1.0", shas["v1.1.0"], annotated=True)
    shas["v2.0.0-rc.1"] = git_server.commit("src-fleet", {"apps/podinfo.yaml": "replicas: 4\n"})
    _tag(bare, "v2.0.0-rc.1", shas["v2.0.0-rc.1"])
    shas["main"] = git_server.commit("src-fleet", {"apps/podinfo.yaml": "replicas: 5\n"})
    shas["feature/x"] = git_server.commit("src-fleet", {"feature.txt": "x"}, branch="feature/x")
    yield shas


def _fill(text: str, shas: dict[str, str]) -> str:
    for name, sha in shas.items():
        text = text.replace(f"{{{name}}}", sha)
    return text


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


def _creds(git_server: GitServer) -> Credentials:
    return Credentials(username=git_server.username, password=git_server.password)


def _source(git_server: GitServer, tmp_path: Path, ref: GitRef, **kwargs: object) -> GitSource:
    return GitSource(
        git_server.repo_url("src-fleet"),
        obj=OBJ,
        ref=ref,
        credentials=_creds(git_server),
        cache_dir=tmp_path / "cache",
        **kwargs,  # type: ignore[arg-type]
    )


def _files(store: ArtifactStore, digest_source: str) -> dict[str, str]:
    artifact = store.latest(digest_source)
    assert artifact is not None and artifact.path is not None
    with tarfile.open(artifact.path) as tar:
        return {
            m.name: tar.extractfile(m).read().decode(errors="replace")  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.mark.parametrize(
    ("ref", "expected_rev", "replicas"),
    [
        (GitRef(branch="main"), "main@sha1:{main}", "5"),
        (GitRef(branch="feature/x"), "feature/x@sha1:{feature/x}", "5"),
        (GitRef(tag="v1.0.0"), "v1.0.0@sha1:{v1.0.0}", "2"),
        (GitRef(tag="v1.1.0"), "v1.1.0@sha1:{v1.1.0}", "3"),  # annotated: the tagged commit
        (GitRef(semver="1.x"), "v1.1.0@sha1:{v1.1.0}", "3"),
        (GitRef(semver=">=1.0.0-0"), "v2.0.0-rc.1@sha1:{v2.0.0-rc.1}", "4"),
        (GitRef(name="refs/heads/main"), "main@sha1:{main}", "5"),
        (GitRef(name="refs/tags/v1.0.0"), "v1.0.0@sha1:{v1.0.0}", "2"),
        (GitRef(commit="{v1.0.0}"), "sha1:{v1.0.0}", "2"),
        (GitRef(commit="{v1.0.0}", branch="main"), "main@sha1:{v1.0.0}", "2"),
        (GitRef(tag="v1.0.0", semver="*", branch="main"), "v1.0.0@sha1:{v1.0.0}", "2"),  # tag wins
        (GitRef(commit="{v1.1.0}", name="refs/heads/main", tag="v1.0.0"), "sha1:{v1.1.0}", "3"),
    ],
)
def test_every_ref_kind_and_precedence(
    git_server: GitServer,
    fleet: dict[str, str],
    store: ArtifactStore,
    tmp_path: Path,
    ref: GitRef,
    expected_rev: str,
    replicas: str,
) -> None:
    if ref.commit:
        ref = GitRef(ref.branch, ref.tag, ref.semver, ref.name, _fill(ref.commit, fleet))
    result = _source(git_server, tmp_path, ref).fetch(store)
    assert result.changed
    assert result.artifact.revision == _fill(expected_rev, fleet)
    files = _files(store, OBJ)
    assert files["apps/podinfo.yaml"] == f"replicas: {replicas}\n"


def test_unchanged_then_new_commit(git_server: GitServer, store: ArtifactStore, tmp_path: Path) -> None:
    git_server.create_repo("src-moving", {"a.yaml": "v: 1\n"})
    creds = Credentials(username=git_server.username, password=git_server.password)
    source = GitSource(
        git_server.repo_url("src-moving"),
        obj=OBJ,
        ref=GitRef(branch="main"),
        credentials=creds,
        cache_dir=tmp_path / "cache",
    )
    first = source.fetch(store)
    again = source.fetch(store)
    assert first.changed and not again.changed
    assert again.artifact == first.artifact
    sha = git_server.commit("src-moving", {"a.yaml": "v: 2\n"})
    assert source.resolve().revision == f"main@sha1:{sha}"
    third = source.fetch(store)
    assert third.changed and third.artifact.revision == f"main@sha1:{sha}"
    assert third.artifact.digest != first.artifact.digest
    assert [a.revision for a in store.history(OBJ)] == [first.artifact.revision, third.artifact.revision]
    assert source.mirror_path().is_dir()  # the mirror is kept for the next run


def test_default_exclusions_and_user_patterns(
    git_server: GitServer, fleet: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    _source(git_server, tmp_path, GitRef(tag="v1.0.0")).fetch(store)
    assert sorted(_files(store, OBJ)) == ["apps/podinfo.yaml", "docs/readme.md"]
    # Any user pattern drops the default list: the png and .github come back.
    _source(git_server, tmp_path, GitRef(tag="v1.0.0"), ignore="/docs/\n").fetch(store)
    assert sorted(_files(store, OBJ)) == [".github/workflows/ci.yaml", "apps/podinfo.yaml", "logo.png"]


def test_sourceignore_files_are_scoped_and_negation_reincludes(
    git_server: GitServer, store: ArtifactStore, tmp_path: Path
) -> None:
    git_server.create_repo(
        "src-ignore",
        {
            ".sourceignore": "/*\n!/deploy\n",
            "deploy/.sourceignore": "*.md\n",
            "deploy/app.yaml": "a\n",
            "deploy/notes.md": "n\n",
            "README.md": "r\n",
            "src/main.go": "package main\n",
        },
    )
    source = GitSource(
        git_server.repo_url("src-ignore"),
        obj=OBJ,
        ref=GitRef(branch="main"),
        credentials=_creds(git_server),
        cache_dir=tmp_path / "c",
    )
    source.fetch(store)
    assert sorted(_files(store, OBJ)) == ["deploy/.sourceignore", "deploy/app.yaml"]


def test_include_copies_another_artifact(
    git_server: GitServer, fleet: dict[str, str], store: ArtifactStore, tmp_path: Path
) -> None:
    shared = _source(git_server, tmp_path, GitRef(tag="v1.0.0"))
    shared.obj = "GitRepository/flux-system/shared"
    included = shared.fetch(store).artifact
    git_server.create_repo("src-main", {"kustomization.yaml": "resources: []\n"})
    source = GitSource(
        git_server.repo_url("src-main"),
        obj=OBJ,
        ref=GitRef(branch="main"),
        credentials=_creds(git_server),
        include=[Include("shared", from_path="apps", to_path="vendor/apps")],
        cache_dir=tmp_path / "cache",
    )
    source.fetch(store, included={"shared": included})
    assert _files(store, OBJ) == {
        "kustomization.yaml": "resources: []\n",
        "vendor/apps/podinfo.yaml": "replicas: 2\n",
    }
    with pytest.raises(SourceError, match="has no artifact yet"):
        source.fetch(store, included={}, force=True)
    escaping = GitSource(
        git_server.repo_url("src-main"),
        obj=OBJ,
        credentials=_creds(git_server),
        include=[Include("shared", to_path="../../x")],
        ref=GitRef(branch="main"),
        cache_dir=tmp_path / "cache",
    )
    with pytest.raises(SourceError, match="leaves the checkout"):
        escaping.fetch(store, included={"shared": included})


def test_file_url_and_bad_url(tmp_path: Path, store: ArtifactStore, git_server: GitServer) -> None:
    git_server.create_repo("src-local", {"x.yaml": "x\n"})
    url = git_server.repo_path("src-local").as_uri()
    result = GitSource(url, obj=OBJ, ref=GitRef(branch="main"), cache_dir=tmp_path / "c").fetch(store)
    assert result.artifact.revision.startswith("main@sha1:")
    with pytest.raises(SourceError, match="scp-like"):
        GitSource("git@github.com:org/repo.git", obj=OBJ)


def test_bad_credentials_never_leak_the_secret(
    git_server: GitServer, fleet: dict[str, str], tmp_path: Path
) -> None:
    secret = "s3cr3t-Passw0rd"
    for creds in (
        Credentials(username=git_server.username, password=secret),
        Credentials(token=secret),
        None,
    ):
        source = GitSource(
            git_server.repo_url("src-fleet"),
            obj=OBJ,
            ref=GitRef(branch="main"),
            credentials=creds or Credentials(),
            cache_dir=tmp_path / "c",
        )
        with pytest.raises(GitAuthError, match=r"spec\.secretRef") as err:
            source.resolve()
        assert secret not in str(err.value)
        assert OBJ in str(err.value)


def test_unreachable_host(tmp_path: Path) -> None:
    source = GitSource("http://127.0.0.1:9/nothing.git", obj=OBJ, cache_dir=tmp_path / "c")
    with pytest.raises(GitUnreachableError, match="cannot reach"):
        source.resolve()


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        (GitRef(branch="nope"), RevisionNotFoundError, "couldn't find remote ref 'refs/heads/nope'"),
        (GitRef(tag="v9.9.9"), RevisionNotFoundError, "tag 'v9.9.9' does not exist"),
        (GitRef(semver=">=5.0.0"), RevisionNotFoundError, "no tag .* matches"),
        (GitRef(semver="not a range"), SourceError, "not a valid constraint"),
        (GitRef(commit="abc"), SourceError, "full 40-character"),
        (GitRef(commit="0" * 40), RevisionNotFoundError, "is not in"),
    ],
)
def test_ref_not_found(
    git_server: GitServer,
    fleet: dict[str, str],
    store: ArtifactStore,
    tmp_path: Path,
    ref: GitRef,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        _source(git_server, tmp_path, ref).fetch(store)
    assert store.latest(OBJ) is None


def _add_submodule(git_server: GitServer, repo: str, lib_server: GitServer, lib: str, tmp_path: Path) -> None:
    """Commit ``lib``'s main branch as submodule vendor/lib of ``repo``, straight on disk."""
    commit = subprocess.run(
        [git_path(), "-C", str(lib_server.repo_path(lib)), "rev-parse", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    url = lib_server.repo_url(lib)
    work = tmp_path / "submodule-work"

    def git(*args: str) -> None:
        subprocess.run([git_path(), "-C", str(work), *args], check=True, capture_output=True)

    subprocess.run([git_path(), "clone", "-q", str(git_server.repo_path(repo)), str(work)], check=True)
    (work / ".gitmodules").write_text(f'[submodule "lib"]\n\tpath = vendor/lib\n\turl = {url}\n')
    git("update-index", "--add", "--cacheinfo", f"160000,{commit},vendor/lib")
    git("add", ".gitmodules")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "add lib")
    git("push", "-q", "origin", "HEAD:refs/heads/main")


def _fetch_app(git_server: GitServer, repo: str, store: ArtifactStore, tmp_path: Path, recurse: bool) -> None:
    source = GitSource(
        git_server.repo_url(repo),
        obj=OBJ,
        ref=GitRef(branch="main"),
        credentials=_creds(git_server),
        recurse_submodules=recurse,
        cache_dir=tmp_path / "cache",
    )
    source.fetch(store)


def test_submodules_only_when_asked(git_server: GitServer, store: ArtifactStore, tmp_path: Path) -> None:
    """A submodule on the source's own host gets the source's credentials (its repo is private)."""
    git_server.create_repo("src-lib", {"lib/base.yaml": "base: true\n"})
    git_server.create_repo("src-app", {"app.yaml": "app: 1\n"})
    _add_submodule(git_server, "src-app", git_server, "src-lib", tmp_path)
    _fetch_app(git_server, "src-app", store, tmp_path, recurse=False)
    assert "vendor/lib/lib/base.yaml" not in _files(store, OBJ)
    _fetch_app(git_server, "src-app", store, tmp_path, recurse=True)
    assert _files(store, OBJ)["vendor/lib/lib/base.yaml"] == "base: true\n"


@pytest.fixture(scope="module")
def other_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """A second git server on another port: another origin, which must never see our credentials."""
    root = tmp_path_factory.mktemp("other-host")
    server = start_git_server(root / "repos", username="other", password="other-secret")
    yield server
    server.stop()


def test_submodule_on_another_host_never_gets_the_credentials(
    git_server: GitServer, other_host: GitServer, store: ArtifactStore, tmp_path: Path
) -> None:
    """Issue 16 finding 3: the Authorization header is scoped to the source's origin."""
    other_host.create_repo("lib", {"base.yaml": "base: true\n"}, public=True)
    git_server.create_repo("src-with-foreign-sub", {"app.yaml": "app: 1\n"})
    _add_submodule(git_server, "src-with-foreign-sub", other_host, "lib", tmp_path)
    _fetch_app(git_server, "src-with-foreign-sub", store, tmp_path, recurse=True)
    assert _files(store, OBJ)["vendor/lib/base.yaml"] == "base: true\n"
    to_lib = [r for r in other_host.seen if r.path.startswith("/lib.git/")]
    assert to_lib and all(r.authorization == "" for r in to_lib)
    assert any(
        r.authorization.startswith("Basic ") for r in git_server.seen if "src-with-foreign-sub" in r.path
    )


def test_ssh_key_is_used_and_never_shown(tmp_path: Path) -> None:
    """No sshd here: a refused ssh:// connection shows the key went to ssh, not into the message."""
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    private = key.read_text()
    creds = Credentials(ssh_private_key=private, known_hosts="[127.0.0.1]:9 ssh-ed25519 AAAA\n")
    source = GitSource(
        "ssh://git@127.0.0.1:9/fleet.git", obj=OBJ, credentials=creds, cache_dir=tmp_path / "c"
    )
    with pytest.raises(GitUnreachableError, match=r"cannot reach .*Connection refused") as err:
        source.resolve()
    body = private.splitlines()[1]
    assert body not in str(err.value)


def test_sparse_checkout_keeps_only_the_listed_directories(
    git_server: GitServer, store: ArtifactStore, tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = {"deploy/app.yaml": "a\n", "deploy/sub/x.yaml": "x\n"}
    files.update({"apps/b.yaml": "b\n", "README.md": "r\n"})
    git_server.create_repo("src-sparse", files, public=True)

    def source(*dirs: str) -> GitSource:
        url = git_server.repo_url("src-sparse")
        return GitSource(
            url, obj=OBJ, ref=GitRef(branch="main"), sparse_checkout=dirs, cache_dir=tmp_path / "c"
        )

    source("./deploy/").fetch(store)
    assert sorted(_files(store, OBJ)) == ["deploy/app.yaml", "deploy/sub/x.yaml"]
    assert source("deploy", "apps").fetch(store).changed  # a different selection is a new artifact
    assert sorted(_files(store, OBJ)) == ["apps/b.yaml", "deploy/app.yaml", "deploy/sub/x.yaml"]
    with pytest.raises(SourceError, match="sparseCheckout directory 'nope' does not exist"):
        source("nope").fetch(store)
