"""GitRepository: resolve a ref the way Flux does, fetch it into a cached mirror, store an artifact.

One bare mirror per URL lives in a cache folder and is reused across runs, so a fetch only
transfers the objects of the wanted commit (depth 1). Before fetching, ``git ls-remote``
tells whether the remote revision equals the last artifact's; if so nothing is fetched and
the caller reports "unchanged", like source-controller's no-op optimisation. Credentials
reach git through environment variables, never through arguments or URLs, and every
message git prints is scrubbed before it can reach a log or an exception.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_flux_provider.credentials import ANONYMOUS, Credentials, ca_bundle, redact_urls
from airflow_flux_provider.semver import SemverError, latest
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore
from airflow_flux_provider.sources.errors import RevisionNotFoundError, SourceError
from airflow_flux_provider.sources.fetched import Fetched
from airflow_flux_provider.sources.ignore import IgnoreRules
from airflow_flux_provider.sources.verify import Verification, VerificationError, keyring
from airflow_flux_provider.tools import git_path

_SHA = re.compile(r"[0-9a-f]{40}")
_UNREACHABLE_HINTS = (
    "could not resolve",
    "connection refused",
    "failed to connect",
    "timed out",
    "unreachable",
)
_AUTH_HINTS = (
    "authentication failed",
    "401",
    "403",
    "permission denied",
    "host key verification failed",
    "could not read username",
)


class GitAuthError(SourceError):
    """The remote refused the credentials (or asked for some and got none)."""


class GitUnreachableError(SourceError):
    """The host could not be reached (DNS, refused connection, timeout)."""


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
        if not re.match(r"^(https?|ssh|file)://", url):
            raise SourceError(
                f"url {url!r} is not http(s)://, ssh:// or file://; write ssh://user@host/repo "
                "instead of the scp-like user@host:repo",
                obj=obj,
                field="spec.url",
            )
        self.url = url
        self.obj = obj
        self.ref = ref or GitRef(branch="master")
        self.credentials = credentials
        self.ignore = ignore
        self.include = tuple(include)
        self.recurse_submodules = recurse_submodules
        self.verify = verify
        self.sparse_checkout = tuple(d.removeprefix("./").rstrip("/") for d in sparse_checkout)
        self.timeout = timeout
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

    # -- talking to git -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _env(self) -> Iterator[dict[str, str]]:
        """Environment carrying the credentials as git config (never on the command line)."""
        config: list[tuple[str, str]] = [("credential.helper", ""), ("protocol.version", "2")]
        creds = self.credentials
        with tempfile.TemporaryDirectory(prefix="flux-git-auth-") as tmp:
            if creds.token and not creds.password:
                config.append(("http.extraHeader", f"Authorization: Bearer {creds.token}"))
            elif creds.basic_auth is not None:
                pair = ":".join(creds.basic_auth).encode()
                config.append(("http.extraHeader", f"Authorization: Basic {base64.b64encode(pair).decode()}"))
            if creds.ca_cert:
                config.append(("http.sslCAInfo", ca_bundle(creds.ca_cert)))
            if creds.insecure:
                config.append(("http.sslVerify", "false"))
            env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false", SSH_ASKPASS="/bin/false")
            env["GIT_CONFIG_NOSYSTEM"] = "1"
            if creds.ssh_private_key:
                key = Path(tmp) / "identity"
                key.write_text(creds.ssh_private_key.rstrip("\n") + "\n")
                key.chmod(0o600)
                hosts = Path(tmp) / "known_hosts"
                hosts.write_text(creds.known_hosts or "")
                env["GIT_SSH_COMMAND"] = (
                    f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={hosts} "
                    "-o StrictHostKeyChecking=yes"
                )
            env["GIT_CONFIG_COUNT"] = str(len(config))
            for i, (key_name, value) in enumerate(config):
                env[f"GIT_CONFIG_KEY_{i}"] = key_name
                env[f"GIT_CONFIG_VALUE_{i}"] = value
            yield env

    def _git(
        self, *args: str, env: Mapping[str, str], cwd: Path | None = None, stdin: str | None = None
    ) -> str:
        try:
            proc = subprocess.run(
                [git_path(), *args],
                input=stdin,
                env=dict(env),
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitUnreachableError(
                f"git {args[0]} of {self.url} took longer than {self.timeout:g}s; check the host or "
                "raise spec.timeout",
                obj=self.obj,
                field="spec.url",
            ) from None
        if proc.returncode != 0:
            raise self._error(next(a for a in args if not a.startswith("-")), proc.stderr)
        return proc.stdout

    def _error(self, verb: str, stderr: str) -> SourceError:
        """Classify git's stderr (scrubbed) into unreachable / refused / not a repo / other."""
        text = self.credentials.scrub(redact_urls(stderr)).strip()
        lines = [line.strip() for line in text.splitlines() if line.strip()] or ["no output"]

        def cause(hints: tuple[str, ...]) -> str | None:
            return next((line for line in lines if any(h in line.lower() for h in hints)), None)

        if found := cause(_UNREACHABLE_HINTS):
            return GitUnreachableError(
                f"cannot reach {self.url} ({found}); check spec.url and the network",
                obj=self.obj,
                field="spec.url",
            )
        if found := cause(_AUTH_HINTS):
            return GitAuthError(
                f"the remote refused access ({found}); check the username/password, token or SSH key "
                "of the connection named by spec.secretRef",
                obj=self.obj,
                field="spec.secretRef",
            )
        if found := cause(("does not appear to be a git repository", "not found")):
            return SourceError(
                f"{self.url} is not a Git repository ({found}); check spec.url",
                obj=self.obj,
                field="spec.url",
            )
        return SourceError(f"git {verb} failed: {lines[-1]}", obj=self.obj, field="spec.url")

    # -- resolving ----------------------------------------------------------------------------

    def _ls_remote(self, env: Mapping[str, str], *patterns: str, tags: bool = False) -> dict[str, str]:
        out = self._git("ls-remote", *(["--tags"] if tags else []), self.url, *patterns, env=env)
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            refs[name] = sha
        return refs

    def resolve(self) -> RemoteRevision:
        """The remote revision of ``spec.ref``, from one ``ls-remote`` (no objects transferred)."""
        with self._env() as env:
            return self._resolve(env)

    def _resolve(self, env: Mapping[str, str]) -> RemoteRevision:
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
                return self._named(env, name, name.removeprefix("refs/heads/"), "name")
            if name.startswith("refs/tags/"):
                return self._tag(env, name.removeprefix("refs/tags/").removesuffix("^{}"), field="name")
            return self._named(env, name, name, "name")
        if kind == "tag":
            return self._tag(env, str(ref.tag), field="tag")
        if kind == "semver":
            return self._semver(env, str(ref.semver))
        return self._named(env, f"refs/heads/{ref.branch}", str(ref.branch), "branch")

    def _named(self, env: Mapping[str, str], full: str, short: str, field_name: str) -> RemoteRevision:
        refs = self._ls_remote(env, full)
        if full not in refs:
            raise RevisionNotFoundError(
                f"couldn't find remote ref {full!r} in {self.url}; check the spelling or push it first",
                obj=self.obj,
                field=f"spec.ref.{field_name}",
            )
        return RemoteRevision(f"{short}@sha1:{refs[full]}", refs[full], full)

    def _tag(self, env: Mapping[str, str], tag: str, *, field: str) -> RemoteRevision:
        full = f"refs/tags/{tag}"
        refs = self._ls_remote(env, full, f"{full}^{{}}")
        commit = refs.get(f"{full}^{{}}") or refs.get(full)
        if commit is None:
            raise RevisionNotFoundError(
                f"tag {tag!r} does not exist in {self.url}; list tags with git ls-remote --tags",
                obj=self.obj,
                field=f"spec.ref.{field}",
            )
        annotated = refs.get(full) if f"{full}^{{}}" in refs else None
        return RemoteRevision(f"{tag}@sha1:{commit}", commit, full, annotated)

    def _semver(self, env: Mapping[str, str], constraint: str) -> RemoteRevision:
        refs = self._ls_remote(env, tags=True)
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
        return self._tag(env, best, field="semver")

    # -- fetching -----------------------------------------------------------------------------

    def mirror_path(self) -> Path:
        return self.cache_dir / (hashlib.sha256(self.url.encode()).hexdigest()[:24] + ".git")

    @contextlib.contextmanager
    def _mirror(self, env: Mapping[str, str]) -> Iterator[Path]:
        """The bare mirror for this URL, locked so parallel tasks on one worker take turns."""
        path = self.mirror_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (path / "HEAD").is_file():
                shutil.rmtree(path, ignore_errors=True)
                self._git("init", "--quiet", "--bare", str(path), env=env)
            yield path

    def _fetch_commit(self, mirror: Path, remote: RemoteRevision, env: Mapping[str, str]) -> None:
        gd = f"--git-dir={mirror}"
        with contextlib.suppress(SourceError):
            self._git(gd, "cat-file", "-e", f"{remote.commit}^{{commit}}", env=env)
            if remote.tag_object:
                self._git(gd, "cat-file", "-e", remote.tag_object, env=env)
            return  # already in the mirror from an earlier run
        want = remote.ref or remote.commit
        try:
            self._git(gd, "fetch", "--quiet", "--no-tags", "--depth=1", self.url, want, env=env)
        except (GitAuthError, GitUnreachableError):
            raise
        except SourceError:
            if remote.ref is not None:
                raise
            # A server that refuses a bare SHA: fetch all branches and look for it there.
            self._git(
                gd, "fetch", "--quiet", "--no-tags", self.url, "+refs/heads/*:refs/flux/heads/*", env=env
            )
        try:
            self._git(gd, "cat-file", "-e", f"{remote.commit}^{{commit}}", env=env)
        except SourceError:
            raise RevisionNotFoundError(
                f"commit {remote.commit} is not in {self.url}; check ref.commit",
                obj=self.obj,
                field="spec.ref.commit",
            ) from None

    def _checkout(self, remote: RemoteRevision, dest: Path, env: Mapping[str, str]) -> None:
        if self.recurse_submodules:
            self._clone_with_submodules(remote, dest, env)
            return
        with self._mirror(env) as mirror:
            self._fetch_commit(mirror, remote, env)
            self._verify(mirror, remote, env)
            index_env = {**env, "GIT_INDEX_FILE": str(dest.parent / "index")}
            gd = f"--git-dir={mirror}"
            self._git(gd, "read-tree", remote.commit, env=index_env)
            if self.sparse_checkout:
                self._check_sparse_dirs(gd, index_env)
                listed = self._git(gd, "ls-files", "-z", "--", *self.sparse_checkout, env=index_env)
                self._git(
                    gd, f"--work-tree={dest}", "checkout-index", "-z", "--stdin", env=index_env, stdin=listed
                )
            else:
                self._git(gd, f"--work-tree={dest}", "checkout-index", "--all", env=index_env)
            self._git(gd, "update-ref", "refs/flux/last", remote.commit, env=env)

    def _check_sparse_dirs(self, git_dir_arg: str, env: Mapping[str, str]) -> None:
        for folder in self.sparse_checkout:
            if not self._git(git_dir_arg, "ls-files", "--", folder, env=env).strip():
                raise SourceError(
                    f"sparseCheckout directory {folder!r} does not exist in the revision; fix the path",
                    obj=self.obj,
                    field="spec.sparseCheckout",
                )

    def _verify(self, git_dir: Path, remote: RemoteRevision, env: Mapping[str, str]) -> None:
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
                    self._git(f"--git-dir={git_dir}", verb, str(target), env={**env, **gpg_env})
                except SourceError:
                    raise VerificationError(
                        f"{what} of {remote.revision} has no valid signature from a key in the "
                        "verify.secretRef connection; sign it or add the signer's public key",
                        obj=self.obj,
                        field="spec.verify",
                    ) from None

    def _clone_with_submodules(self, remote: RemoteRevision, dest: Path, env: Mapping[str, str]) -> None:
        self._git("init", "--quiet", str(dest), env=env)
        self._git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth=1",
            self.url,
            remote.ref or remote.commit,
            env=env,
            cwd=dest,
        )
        self._verify(dest / ".git", remote, env)
        self._git("checkout", "--quiet", remote.commit, env=env, cwd=dest)
        self._git("submodule", "update", "--init", "--recursive", "--depth=1", env=env, cwd=dest)
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
        with self._env() as env:
            remote = self._resolve(env)
            observed = f"{remote.revision} {settings}"
            if last is not None and not force and self._read_observed() == (observed, last.digest):
                return Fetched(last, changed=False)
            with tempfile.TemporaryDirectory(prefix="flux-git-") as tmp:
                tree = Path(tmp) / "tree"
                tree.mkdir()
                self._checkout(remote, tree, env)
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
