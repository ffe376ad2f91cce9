"""Source artifact + Kustomization spec -> the manifests kustomize-controller would apply.

Steps, in the controller's order: layer the spec onto ``kustomization.yaml`` (see
:mod:`.workspace`), run the real kustomize, substitute postBuild variables per object
(:mod:`.envsubst`, skipping objects that opt out), then apply ``commonMetadata``. The
result is stored by digest; a render whose inputs (source digest, spec layers, variables,
kustomize version) were seen before is returned from the store without running kustomize.
The source counts only with the files this Kustomization reads (:mod:`.inputs`), so a commit
elsewhere in the repository reuses the render.

Object text is kept as kustomize printed it; only objects that change are re-read, which
keeps a render within a few percent of a bare ``kubectl kustomize``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.errors import object_ref
from airflow_flux_provider.kustomize import envsubst
from airflow_flux_provider.kustomize.decryption import DECRYPT_KEY, DecryptionError, DecryptionKeys, Decryptor
from airflow_flux_provider.kustomize.errors import EnvsubstError, KustomizeError, SubstitutionError
from airflow_flux_provider.kustomize.inputs import inputs_digest
from airflow_flux_provider.kustomize.kustomize_cli import kustomize_build, kustomize_version
from airflow_flux_provider.kustomize.store import Rendered, RenderStore, digest_of
from airflow_flux_provider.kustomize.variables import ObjectReader, collect, from_cluster
from airflow_flux_provider.kustomize.workspace import Workspace
from airflow_flux_provider.specs.kustomization import Kustomization

SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
_SEPARATOR = re.compile(r"^---\n", re.MULTILINE)
_TOP = re.compile(r"^(apiVersion|kind): *(.*)$", re.MULTILINE)
_METADATA = re.compile(r"^metadata:\n((?: .*\n?)*)", re.MULTILINE)
_META_FIELD = re.compile(r"^  (name|namespace): *(.*)$", re.MULTILINE)
#: Spec fields that change what is built; the rest (intervals, health checks…) do not.
_BUILD_FIELDS = {
    "path",
    "target_namespace",
    "name_prefix",
    "name_suffix",
    "common_metadata",
    "patches",
    "images",
    "components",
    "ignore_missing_components",
    "build_metadata",
    "post_build",
    "decryption",
}
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class _Document:
    """One rendered object: its text as printed and its identity."""

    text: str
    kind: str
    name: str
    namespace: str | None

    @property
    def ref(self) -> str:
        return object_ref(self.kind, self.name, self.namespace)


def _scalar(raw: str) -> str:
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        value = yaml.load(raw, Loader=_SafeLoader)
        return str(value)
    return raw


def _identify(text: str) -> _Document:
    """Kind/name/namespace of kustomize's output text without a full YAML parse."""
    top = {key: _scalar(value) for key, value in _TOP.findall(text)}
    meta: dict[str, str] = {}
    block = _METADATA.search(text)
    if block:
        meta = {key: _scalar(value) for key, value in _META_FIELD.findall(block.group(1))}
    return _Document(text, top.get("kind", ""), meta.get("name", ""), meta.get("namespace") or None)


def split_documents(output: str) -> list[str]:
    """kustomize's multi-document output, one text per object (each ending in a newline)."""
    return [doc if doc.endswith("\n") else doc + "\n" for doc in _SEPARATOR.split(output) if doc.strip()]


def join_documents(documents: list[str]) -> str:
    return "---\n".join(documents)


def tree_digest(root: Path) -> str:
    """Digest of a folder's names and contents, for sources given as a plain folder."""
    hasher = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix().encode()
            content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            hasher.update(b"%d:%s%d:" % (len(rel), rel, len(content)))
            hasher.update(content)
    return f"sha256:{hasher.hexdigest()}"


class Renderer:
    """Renders one Kustomization from a source folder, reading substituteFrom via ``reader``."""

    def __init__(
        self,
        kustomization: Kustomization,
        *,
        store: RenderStore,
        reader: ObjectReader | None = None,
        strict: bool = True,
        allow_remote_bases: bool = False,
        keep_encrypted: bool = False,
        ignore: Sequence[str] | None = None,
        decryption_keys: DecryptionKeys | None = None,
        kubectl: str | None = None,
    ) -> None:
        self.ks = kustomization
        self.store = store
        self.reader = reader
        self.strict = strict
        self.allow_remote_bases = allow_remote_bases
        self.keep_encrypted = keep_encrypted
        self.ignore = None if ignore is None else list(ignore)
        self.decryption_keys = decryption_keys
        self.kubectl = kubectl
        self.obj = kustomization.ref

    def render(
        self,
        source: Path | str,
        *,
        source_digest: str | None = None,
        airflow_vars: Mapping[str, str] | None = None,
    ) -> Rendered:
        """Build ``source`` (the artifact root); cached when the same inputs were rendered before."""
        root = Path(source)
        spec = self.ks.spec
        decrypting = spec.decryption is not None and not self.keep_encrypted  # flux build never decrypts
        if decrypting and spec.decryption is not None and spec.decryption.service_account_name:
            raise DecryptionError(
                "spec.decryption.serviceAccountName authenticates to a cloud KMS, which is not supported "
                "here (only age and OpenPGP keys from the secretRef are); remove it",
                obj=self.obj,
                field="spec.decryption.serviceAccountName",
            )
        if decrypting and self.decryption_keys is None:
            raise DecryptionError(
                "spec.decryption is set but no keys were given; create the decryption Secret "
                f"'{_secret_name(spec)}' (or the Airflow connection of that name) with an *.agekey entry",
                obj=self.obj,
                field="spec.decryption.secretRef",
            )
        variables: dict[str, str] = {}
        if spec.post_build is not None:
            namespace = self.ks.metadata.namespace or "default"
            cluster = from_cluster(spec.post_build, self.reader, namespace=namespace, obj=self.obj)
            variables = collect(spec.post_build, cluster=cluster, airflow=airflow_vars or {}, obj=self.obj)
        version = kustomize_version(self.kubectl)
        read = inputs_digest(root, spec.path, spec.components) if root.is_dir() else None
        if read is None and source_digest is None:
            if not root.is_dir():
                raise KustomizeError(
                    f"source artifact folder {root} does not exist; fetch the source first", obj=self.obj
                )
            source_digest = tree_digest(root)
        keys = self.decryption_keys if decrypting else None
        key = self._input_key(read or source_digest or "", variables, version, keys)
        cached = self.store.lookup(key)
        if cached is not None:
            return cached
        with contextlib.ExitStack() as stack:
            decryptor = stack.enter_context(Decryptor(keys, obj=self.obj)) if keys is not None else None
            output = self._build(root, decryptor)
            documents = [_identify(text) for text in split_documents(output)]
            if decryptor is not None:
                documents = [self._decrypt(doc, decryptor) for doc in documents]
        if spec.post_build is not None:
            documents = self._substitute(documents, variables)
        if spec.common_metadata is not None:
            documents = [self._common_metadata(doc) for doc in documents]
        if not self.keep_encrypted:
            self._refuse_encrypted(documents)
        data = join_documents([doc.text for doc in documents]).encode("utf-8")
        sealed = keys is not None
        digest = self.store.put(data, sealed=sealed)
        rendered = Rendered(
            digest=digest,
            path=str(self.store.path(digest, sealed=sealed)),
            objects=len(documents),
            kinds=dict(sorted(Counter(doc.kind for doc in documents).items())),
            kustomize_version=version,
            sealed=sealed,
        )
        self.store.record(key, rendered)
        return rendered

    # -- steps -------------------------------------------------------------------------------
    def _input_key(
        self, source_digest: str, variables: Mapping[str, str], version: str, keys: DecryptionKeys | None
    ) -> str:
        spec = self.ks.spec.model_dump(include=_BUILD_FIELDS, by_alias=True, mode="json")
        payload = {
            # revoked or replaced keys must not reuse a render: their digest is part of the key
            "keys": digest_of(
                json.dumps([keys.age_identities, [k.decode("latin-1") for k in keys.pgp_keys]]).encode()
            )
            if keys is not None
            else None,
            "source": source_digest,
            "spec": spec,
            "variables": variables,
            "strict": self.strict,
            "remote": self.allow_remote_bases,
            "keep_encrypted": self.keep_encrypted,
            "ignore": self.ignore,
            "kustomize": version,
        }
        return digest_of(json.dumps(payload, sort_keys=True).encode()).removeprefix("sha256:")

    def _build(self, root: Path, decryptor: Decryptor | None) -> str:
        workspace = Workspace(
            root, self.ks.spec, obj=self.obj, allow_remote_bases=self.allow_remote_bases, ignore=self.ignore
        )
        with tempfile.TemporaryDirectory(prefix="flux-kustomize-") as work:
            os.chmod(work, 0o700)  # decrypted generator inputs live here for the build
            folder = workspace.prepare(Path(work))
            mirror = (Path(work) / "src").resolve()
            if decryptor is not None:
                decryptor.decrypt_sources(mirror, folder, workspace.load)
            shown = Path(self.ks.spec.path or ".")
            return kustomize_build(folder, shown_as=shown, mirror=mirror, obj=self.obj, kubectl=self.kubectl)

    def _substitute(self, documents: list[_Document], variables: Mapping[str, str]) -> list[_Document]:
        post_build = self.ks.spec.post_build
        assert post_build is not None
        if not variables and post_build.substitute_strategy == "WithVariables":
            return documents  # Flux leaves everything untouched, ${x:=default} included
        missing: list[str] = []
        out: list[_Document] = []
        for doc in documents:
            if "$" not in doc.text or (SUBSTITUTE_KEY in doc.text and _opted_out(doc.text)):
                out.append(doc)
                continue
            try:
                text, unset = envsubst.substitute(doc.text, variables, strict=self.strict)
            except EnvsubstError as err:
                raise SubstitutionError(
                    f"post build failed for '{doc.ref}': variable substitution failed: {err}; "
                    "escape a literal "
                    f"$ as $$ or annotate the object {SUBSTITUTE_KEY}: disabled",
                    obj=self.obj,
                    field="spec.postBuild",
                ) from None
            if unset:
                missing.append(f"{doc.ref} ({', '.join(unset)})")
                continue
            try:
                yaml.load(text, Loader=_SafeLoader)
            except yaml.YAMLError as err:
                raise SubstitutionError(
                    f"post build failed for '{doc.ref}': the substituted object is not valid YAML "
                    f"({_where(err)}); "
                    "quote the value in the manifest or remove newlines/colons from the variable",
                    obj=self.obj,
                    field="spec.postBuild",
                ) from None
            out.append(_identify(text))
        if missing:
            raise SubstitutionError(
                "variables not set (strict mode): "
                + "; ".join(missing)
                + ". Set them in spec.postBuild.substitute, substituteFrom, the DAG params / trigger conf, "
                "or give a default like ${VAR:=value}",
                obj=self.obj,
                field="spec.postBuild",
            )
        return out

    def _decrypt(self, doc: _Document, decryptor: Decryptor) -> _Document:
        """kustomize-controller's per-object decryption (before substitution)."""
        if "sops" not in doc.text and not (doc.kind == "Secret" and "data:" in doc.text):
            return doc
        data = yaml.load(doc.text, Loader=_SafeLoader)
        if not isinstance(data, dict):
            return doc
        decrypted = decryptor.decrypt_object(data, doc.ref)
        if decrypted is None:
            return doc
        text = yaml.dump(decrypted, Dumper=_SafeDumper, sort_keys=False, width=1 << 30, allow_unicode=True)
        return _identify(text)

    def _refuse_encrypted(self, documents: list[_Document]) -> None:
        """kustomize-controller never applies a SOPS-encrypted Secret it was not asked to decrypt."""
        for doc in documents:
            if doc.kind != "Secret" or "sops" not in doc.text:
                continue
            data = yaml.load(doc.text, Loader=_SafeLoader)
            annotations = (data.get("metadata") or {}).get("annotations") or {}
            if (
                data.get("apiVersion") == "v1"
                and "sops" in data
                and str(annotations.get(DECRYPT_KEY, "")).lower() != "disabled"
            ):
                raise KustomizeError(
                    f"{doc.ref} is SOPS encrypted, configuring decryption is required for this secret "
                    "to be reconciled; set spec.decryption or annotate it "
                    f"{DECRYPT_KEY}: disabled",
                    obj=self.obj,
                )

    def _common_metadata(self, doc: _Document) -> _Document:
        """Flux sets commonMetadata on the built objects (existing keys are overwritten)."""
        common = self.ks.spec.common_metadata
        assert common is not None
        data = yaml.load(doc.text, Loader=_SafeLoader)
        metadata = data.setdefault("metadata", {})
        for key, values in (("labels", common.labels), ("annotations", common.annotations)):
            if values:
                metadata[key] = {**(metadata.get(key) or {}), **values}
        text = yaml.dump(data, Dumper=_SafeDumper, sort_keys=False, width=1 << 30, allow_unicode=True)
        return _Document(text, doc.kind, doc.name, doc.namespace)


def _where(err: yaml.YAMLError) -> str:
    """The YAML problem and position, never the offending text (it may hold a Secret's value)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or "parse error"
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _opted_out(text: str) -> bool:
    data = yaml.load(text, Loader=_SafeLoader)
    metadata = data.get("metadata") or {} if isinstance(data, dict) else {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    return labels.get(SUBSTITUTE_KEY) == "disabled" or annotations.get(SUBSTITUTE_KEY) == "disabled"


def _secret_name(spec: Any) -> str:
    ref = spec.decryption.secret_ref if spec.decryption is not None else None
    return ref.name if ref is not None else "?"
