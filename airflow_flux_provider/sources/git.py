"""GitRepository: resolve a ref the way Flux does, fetch it into a cached mirror, store an artifact.

One bare mirror per URL lives in a cache folder and is reused across runs, so a fetch only
transfers the objects of the wanted commit (depth 1). Before fetching, ``git ls-remote``
tells whether the remote revision equals the last artifact's; if so nothing is fetched and
the caller reports "unchanged", like source-controller's no-op optimisation. Every git
command goes through :class:`~airflow_flux_provider.git.remote.GitRemote` (credentials
scoped to the URL's origin, scrubbed and classified errors).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.git.errors import GitAuthError, GitUnreachableError
from airflow_flux_provider.git.remote import GitRemote, GitSession
from airflow_flux_provider.semver import SemverError, latest
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore
from airflow_flux_provider.sources.errors import RevisionNotFoundError, SourceError
from airflow_flux_provider.sources.fetched import Fetched
from airflow_flux_provider.sources.ignore import IgnoreRules
from airflow_flux_provider.sources.verify import Verification, VerificationError, keyring

__all__ = ["GitAuthError", "GitRef", "GitSource", "GitUnreachableError", "Include", "RemoteRevision"]

_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class GitRef:
    """``spec.ref``; :meth:`kind` applies Flux's precedence commit > name > tag > semver > branch."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None

    def kind(self) -> str:
        for kind in ("commit", "name", "tag", "semver", "branch"):
            if getattr(self, kind):
                return kind
        return "branch"


@dataclass(frozen=True)
class Include:
    """Copy ``from_path`` of another GitRepository's artifact to ``to_path`` (default: its name)."""

    repository: str
    from_path: str | None = None
    to_path: str | None = None


@dataclass(frozen=True)
class RemoteRevision:
    """What ``ls-remote`` says the ref points at: Flux revision string and the commit to fetch."""

    revision: str
    commit: str
    ref: str | None  # the remote ref to fetch; None when only a commit is known
    tag_object: str | None = None  # an annotated tag's own object (what verify-tag checks)


def _cache_base() -> Path:
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "flux-cache" / "git"


def revision_for(ref: str | None, commit: str) -> str:
    """Flux's revision string: ``<short ref>@sha1:<hash>``, or ``sha1:<hash>`` without a ref."""
    algo = "sha1" if _SHA.fullmatch(commit) else "<unknown>"
    if ref is None:
        return f"{algo}:{commit}"
    parts = ref.split("/", 2)
    if ref.startswith("refs/") and len(parts) == 3:
        ref = parts[2]
    return f"{ref}@{algo}:{commit}"


class GitSource:
    """Fetches one GitRepository into an :class:`ArtifactStore`; ``obj`` is ``Kind/ns/name``."""

    def __init__(
        self,
        url: str,
        *,
        obj: str,
        ref: GitRef | None = None,
        credentials: Credentials = ANONYMOUS,
        ignore: str | None = None,
        include: Sequence[Include] = (),
        recurse_submodules: bool = False,
        verify: Verification | None = None,
        sparse_checkout: Sequence[str] = (),
        timeout: float = 60.0,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.remote = GitRemote(url, obj=obj, credentials=credentials, timeout=timeout)
        self.url = url
        self.obj = obj
        self.ref = ref or GitRef(branch="master")
        self.ignore = ignore
        self.include = tuple(include)
        self.recurse_submodules = recurse_submodules
        self.verify = verify
        self.sparse_checkout = tuple(d.removeprefix("./").rstrip("/") for d in sparse_checkout)
        self.cache_dir = Path(cache_dir) if cache_dir else _cache_base()

    @classmethod
    def from_spec(
        cls,
        repo: Any,
        credentials: Credentials = ANONYMOUS,
        *,
        verify_keys: Sequence[str] = (),
        **kwargs: Any,
    ) -> GitSource:
        """Build from a typed :class:`airflow_flux_provider.specs.GitRepository`.

        ``verify_keys`` are the armored PGP public keys of ``spec.verify.secretRef``.
        """
        spec = repo.spec
        ref = spec.ref
        verify = Verification(spec.verify.mode, tuple(verify_keys)) if spec.verify else None
        return cls(
            spec.url,
            obj=repo.ref,
            ref=GitRef(ref.branch, ref.tag, ref.semver, ref.name, ref.commit),
            credentials=credentials,
            ignore=spec.ignore,
            include=[Include(i.repository.name, i.from_path, i.to_path) for i in spec.include],
            recurse_submodules=spec.recurse_submodules,
            verify=verify,
            sparse_checkout=spec.sparse_checkout,
            timeout=spec.timeout.total_seconds(),
            **kwargs,
        )

    # -- resolving ----------------------------------------------------------------------------

    def resolve(self) -> RemoteRevision:
        """The remote revision of ``spec.ref``, from one ``ls-remote`` (no objects transferred)."""
        with self.remote.connect() as git:
            return self._resolve(git)

    def _resolve(self, git: GitSession) -> RemoteRevision:
        ref, kind = self.ref, self.ref.kind()
        if kind == "commit":
            commit = str(ref.commit).lower()
            if not _SHA.fullmatch(commit):
                raise SourceError(
                    f"ref.commit {ref.commit!r} must be a full 40-character SHA-1",
                    obj=self.obj,
                    field="spec.ref.commit",
                )
            return RemoteRevision(revision_for(ref.branch, commit), commit, None)
        if kind == "name":
            name = str(ref.name)
            if name.startswith("refs/heads/"):
                return self._named(git, name, name.removeprefix("refs/heads/"), "name")
            if name.startswith("refs/tags/"):
                return self._tag(git, name.removeprefix("refs/tags/").removesuffix("^{}"), field="name")
            return self._named(git, name, name, "name")
        if kind == "tag":
            return self._tag(git, str(ref.tag), field="tag")
        if kind == "semver":
            return self._semver(git, str(ref.semver))
        return self._named(git, f"refs/heads/{ref.branch}", str(ref.branch), "branch")

    def _named(self, git: GitSession, full: str, short: str, field_name: str) -> RemoteRevision:
        refs = git.ls_remote(full)
        if full not in refs:
            raise RevisionNotFoundError(
                f"couldn't find remote ref {full!r} in {self.url}; check the spelling or push it first",
                obj=self.obj,
                field=f"spec.ref.{field_name}",
            )
        return RemoteRevision(f"{short}@sha1:{refs[full]}", refs[full], full)

    def _tag(self, git: GitSession, tag: str, *, field: str) -> RemoteRevision:
        full = f"refs/tags/{tag}"
        refs = git.ls_remote(full, f"{full}^{{}}")
        commit = refs.get(f"{full}^{{}}") or refs.get(full)
        if commit is None:
            raise RevisionNotFoundError(
                f"tag {tag!r} does not exist in {self.url}; list tags with git ls-remote --tags",
                obj=self.obj,
                field=f"spec.ref.{field}",
            )
        annotated = refs.get(full) if f"{full}^{{}}" in refs else None
        return RemoteRevision(f"{tag}@sha1:{commit}", commit, full, annotated)

    def _semver(self, git: GitSession, constraint: str) -> RemoteRevision:
        refs = git.ls_remote(tags=True)
        tags = sorted({n.removeprefix("refs/tags/").removesuffix("^{}") for n in refs})
        try:
            best = latest(tags, constraint, flux_tags=True)
        except SemverError as err:
            raise SourceError(
                f"ref.semver {constraint!r} is not a valid constraint ({err.message})",
                obj=self.obj,
                field="spec.ref.semver",
            ) from None
        if best is None:
            raise RevisionNotFoundError(
                f"no tag in {self.url} matches {constraint!r} (tags must be X.Y.Z or vX.Y.Z)",
                obj=self.obj,
                field="spec.ref.semver",
            )
        return self._tag(git, best, field="semver")

    # -- fetching -----------------------------------------------------------------------------

    def mirror_path(self) -> Path:
        return self.cache_dir / (hashlib.sha256(self.url.encode()).hexdigest()[:24] + ".git")

    @contextlib.contextmanager
    def _mirror(self, git: GitSession) -> Iterator[Path]:
        """The bare mirror for this URL, locked so parallel tasks on one worker take turns."""
        path = self.mirror_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (path / "HEAD").is_file():
                shutil.rmtree(path, ignore_errors=True)
                git.run("init", "--quiet", "--bare", "--end-of-options", str(path))
            yield path

    def _fetch_commit(self, mirror: Path, remote: RemoteRevision, git: GitSession) -> None:
        gd = f"--git-dir={mirror}"
        with contextlib.suppress(SourceError):
            git.run(gd, "cat-file", "-e", "--end-of-options", f"{remote.commit}^{{commit}}")
            if remote.tag_object:
                git.run(gd, "cat-file", "-e", "--end-of-options", remote.tag_object)
            return  # already in the mirror from an earlier run
        try:
            git.fetch(mirror, remote.ref or remote.commit)
        except (GitAuthError, GitUnreachableError):
            raise
        except SourceError:
            if remote.ref is not None:
                raise
            # A server that refuses a bare SHA: fetch all branches and look for it there.
            git.fetch(mirror, "+refs/heads/*:refs/flux/heads/*", depth=None)
        try:
            git.run(gd, "cat-file", "-e", "--end-of-options", f"{remote.commit}^{{commit}}")
        except SourceError:
            raise RevisionNotFoundError(
                f"commit {remote.commit} is not in {self.url}; check ref.commit",
                obj=self.obj,
                field="spec.ref.commit",
            ) from None

    def _checkout(self, remote: RemoteRevision, dest: Path, git: GitSession) -> None:
        if self.recurse_submodules:
            self._clone_with_submodules(remote, dest, git)
            return
        with self._mirror(git) as mirror:
            self._fetch_commit(mirror, remote, git)
            self._verify(mirror, remote, git)
            index = {"GIT_INDEX_FILE": str(dest.parent / "index")}
            gd = f"--git-dir={mirror}"
            git.run(gd, "read-tree", "--end-of-options", remote.commit, env=index)
            if self.sparse_checkout:
                self._check_sparse_dirs(gd, git, index)
                listed = git.run(gd, "ls-files", "-z", "--", *self.sparse_checkout, env=index)
                git.run(gd, f"--work-tree={dest}", "checkout-index", "-z", "--stdin", env=index, stdin=listed)
            else:
                git.run(gd, f"--work-tree={dest}", "checkout-index", "--all", env=index)
            git.run(gd, "update-ref", "--end-of-options", "refs/flux/last", remote.commit)

    def _check_sparse_dirs(self, git_dir_arg: str, git: GitSession, env: Mapping[str, str]) -> None:
        for folder in self.sparse_checkout:
            if not git.run(git_dir_arg, "ls-files", "--", folder, env=env).strip():
                raise SourceError(
                    f"sparseCheckout directory {folder!r} does not exist in the revision; fix the path",
                    obj=self.obj,
                    field="spec.sparseCheckout",
                )

    def _verify(self, git_dir: Path, remote: RemoteRevision, git: GitSession) -> None:
        """Check ``spec.verify`` against the objects in ``git_dir``; a no-op without it."""
        verify = self.verify
        if verify is None:
            return
        if verify.tag and remote.tag_object is None:
            raise VerificationError(
                f"verify.mode {verify.mode} needs an annotated tag; set ref.tag, ref.semver or a "
                "refs/tags/ ref.name (a lightweight tag carries no signature)",
                obj=self.obj,
                field="spec.verify.mode",
            )
        checks = [("verify-tag", remote.tag_object, "tag")] if verify.tag else []
        checks += [("verify-commit", remote.commit, "commit")] if verify.head else []
        with keyring(verify.public_keys, shutil.which("gpg") or "gpg", obj=self.obj) as gpg_env:
            for verb, target, what in checks:
                try:
                    git.run(f"--git-dir={git_dir}", verb, "--end-of-options", str(target), env=gpg_env)
                except SourceError:
                    raise VerificationError(
                        f"{what} of {remote.revision} has no valid signature from a key in the "
                        "verify.secretRef connection; sign it or add the signer's public key",
                        obj=self.obj,
                        field="spec.verify",
                    ) from None

    def _clone_with_submodules(self, remote: RemoteRevision, dest: Path, git: GitSession) -> None:
        git.run("init", "--quiet", "--end-of-options", str(dest))
        git.fetch(dest / ".git", remote.ref or remote.commit)
        self._verify(dest / ".git", remote, git)
        git.run("update-ref", "--no-deref", "--end-of-options", "HEAD", remote.commit, cwd=dest)
        git.run("reset", "--quiet", "--hard", cwd=dest)
        git.run("submodule", "update", "--init", "--recursive", "--depth=1", cwd=dest)
        shutil.rmtree(dest / ".git")

    def _copy_includes(self, store: ArtifactStore, included: Mapping[str, Artifact], dest: Path) -> None:
        for inc in self.include:
            artifact = included.get(inc.repository)
            if artifact is None:
                raise SourceError(
                    f"include of GitRepository {inc.repository!r} has no artifact yet; fetch it first "
                    "and pass its XCom",
                    obj=self.obj,
                    field="spec.include",
                )
            target = _inside(dest, inc.to_path or inc.repository, self.obj)
            with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
                unpacked = store.extract(artifact, Path(tmp) / "x")
                origin = _inside(unpacked, inc.from_path or ".", self.obj)
                if not origin.is_dir():
                    raise SourceError(
                        f"fromPath {inc.from_path!r} is not a folder in {artifact.source}",
                        obj=self.obj,
                        field="spec.include.fromPath",
                    )
                shutil.copytree(origin, target, dirs_exist_ok=True, symlinks=True)

    def fetch(
        self,
        store: ArtifactStore,
        *,
        included: Mapping[str, Artifact] | None = None,
        force: bool = False,
    ) -> Fetched:
        """Store the ref's tree as an artifact, or return the last one if the revision is unchanged.

        ``included`` maps a GitRepository name from ``spec.include`` to its artifact.
        """
        last = store.latest(self.obj)
        settings = self._settings(included or {})
        with self.remote.connect() as git:
            remote = self._resolve(git)
            observed = f"{remote.revision} {settings}"
            if last is not None and not force and self._read_observed() == (observed, last.digest):
                return Fetched(last, changed=False)
            with tempfile.TemporaryDirectory(prefix="flux-git-") as tmp:
                tree = Path(tmp) / "tree"
                tree.mkdir()
                self._checkout(remote, tree, git)
                if self.include:
                    self._copy_includes(store, included or {}, tree)
                rules = IgnoreRules.for_tree(tree, self.ignore)
                artifact = store.put_directory(tree, source=self.obj, revision=remote.revision, ignore=rules)
        self._write_observed(observed, artifact.digest)
        changed = last is None or (last.revision, last.digest) != (artifact.revision, artifact.digest)
        return Fetched(artifact, changed)

    # -- what the last artifact was built from ------------------------------------------------

    def _settings(self, included: Mapping[str, Artifact]) -> str:
        """Everything besides the revision that shapes the artifact (Flux's ``observed*`` fields)."""
        parts = [self.ignore or "", str(self.recurse_submodules), repr(self.verify), *self.sparse_checkout]
        for inc in self.include:
            artifact = included.get(inc.repository)
            parts += [
                inc.repository,
                inc.from_path or "",
                inc.to_path or "",
                artifact.digest if artifact else "",
            ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def _observed_path(self) -> Path:
        return (
            self.cache_dir
            / "observed"
            / (hashlib.sha256(f"{self.obj} {self.url}".encode()).hexdigest() + ".json")
        )

    def _read_observed(self) -> tuple[str, str] | None:
        try:
            data = json.loads(self._observed_path().read_text())
            return (data["observed"], data["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unknown on this worker: rebuild, the digest tells whether it changed

    def _write_observed(self, observed: str, digest: str) -> None:
        path = self._observed_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"observed": observed, "digest": digest}))
        tmp.replace(path)


def _inside(root: Path, rel: str, obj: str) -> Path:
    target = (root / rel.lstrip("/")).resolve()
    if not target.is_relative_to(root.resolve()):
        raise SourceError(
            f"path {rel!r} leaves the checkout; use a relative path", obj=obj, field="spec.include"
        )
    return target
