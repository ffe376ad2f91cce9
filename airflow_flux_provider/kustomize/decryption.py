"""SOPS decryption during the build, with kustomize-controller's rules and the real ``sops``.

What is decrypted (``spec.decryption.provider: sops``), as kustomize-controller does:

- before kustomize runs, the files a kustomization feeds to ``secretGenerator`` (``files``
  by their key's extension, ``envs`` as dotenv) and local ``patches[].path`` files, in the
  built folder and every local kustomization it reaches through resources/components; a
  file without its format's SOPS marker is left as it is;
- after the build, every object whose ``sops`` metadata has a ``mac`` (as JSON), and the
  ``data`` values of Secrets that are themselves SOPS documents (format from the content,
  output format from the key's extension); objects annotated
  ``kustomize.toolkit.fluxcd.io/decrypt: disabled`` are skipped.

Keys come as Flux takes them from the decryption Secret: ``*.agekey`` entries hold age
identities, ``*.asc`` entries armored OpenPGP keys. Cloud KMS and Vault entries are refused
(this project runs no cloud key service). Decryption happens in a private temporary folder;
plaintext only ever lives in memory and in the build's own temporary copy of the source,
and errors name the file and the keys it was encrypted for, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airflow_flux_provider.kustomize.errors import KustomizeError
from airflow_flux_provider.tools import tool_path

DECRYPT_KEY = "kustomize.toolkit.fluxcd.io/decrypt"
AGE_EXT = ".agekey"
PGP_EXT = ".asc"
#: Decryption Secret entries Flux reads for cloud key services, which this project refuses.
CLOUD_ENTRIES = {
    "sops.aws-kms": "AWS KMS",
    "sops.azure-kv": "Azure Key Vault",
    "sops.gcp-kms": "GCP KMS",
    "sops.vault-token": "HashiCorp Vault",
}
MAX_FILE_BYTES = 5 << 20
_TIMEOUT_SECONDS = 60
_MARKERS = (  # kustomize-controller's format markers; "mac": "ENC[ is JSON (and binary)
    ("yaml", b"mac: ENC["),
    ("json", b'"mac": "ENC['),
    ("dotenv", b"sops_mac=ENC["),
    ("ini", b"[sops]"),
)
_FORMAT_MARKER = {**dict(_MARKERS), "binary": b'"mac": "ENC['}
_CLOUD_KEYS = ("kms", "gcp_kms", "azure_kv", "hc_vault")
_AGE_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]+")


class DecryptionError(KustomizeError):
    """A SOPS document cannot be decrypted with the keys given; nothing of the build is applied."""


def format_for_path(path: str) -> str:
    """sops' format for a file name (kustomize-controller: ``.dockerconfigjson`` is JSON)."""
    name = path.lower()
    if name.endswith(".dockerconfigjson") or name.endswith(".json"):
        return "json"
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".env"):
        return "dotenv"
    if name.endswith(".ini"):
        return "ini"
    return "binary"


def detect_format(data: bytes) -> str | None:
    """The SOPS format whose marker ``data`` holds (a Secret value), ``None`` for plain data."""
    return next((fmt for fmt, marker in _MARKERS if marker in data), None)


@dataclass(frozen=True)
class DecryptionKeys:
    """Private keys from the decryption Secret (or Airflow connection); never printed."""

    age_identities: tuple[str, ...] = field(default=(), repr=False)
    pgp_keys: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def from_entries(cls, entries: Mapping[str, str | bytes], *, obj: str, source: str) -> DecryptionKeys:
        """Keys as Flux reads a decryption Secret's entries: ``*.agekey`` and ``*.asc``."""
        ages: list[str] = []
        pgps: list[bytes] = []
        for name, value in sorted(entries.items()):
            data = value.encode() if isinstance(value, str) else value
            if name in CLOUD_ENTRIES:
                raise DecryptionError(
                    f"{source} holds a {CLOUD_ENTRIES[name]} entry ({name}); only age (*{AGE_EXT}) and "
                    f"OpenPGP (*{PGP_EXT}) keys are supported here: re-encrypt the files for an age key",
                    obj=obj,
                    field="spec.decryption.secretRef",
                )
            if name.endswith(AGE_EXT):
                found = _AGE_IDENTITY.findall(data.decode("utf-8", errors="replace"))
                if not found:
                    raise DecryptionError(
                        f"{source} entry {name!r} holds no age identity (AGE-SECRET-KEY-1…); put an age key "
                        "file's content there",
                        obj=obj,
                        field="spec.decryption.secretRef",
                    )
                ages += found
            elif name.endswith(PGP_EXT):
                pgps.append(data)
        if not ages and not pgps:
            raise DecryptionError(
                f"{source} holds no *{AGE_EXT} or *{PGP_EXT} entry; add the age identity as e.g. "
                f"'identity{AGE_EXT}'",
                obj=obj,
                field="spec.decryption.secretRef",
            )
        return cls(tuple(ages), tuple(pgps))

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any] | None, *, obj: str, source: str) -> DecryptionKeys:
        """Keys from a Kubernetes Secret (``None``: it does not exist), as kustomize-controller reads it."""
        if secret is None:
            raise DecryptionError(
                f"the decryption {source} does not exist; create it with the age identity in an "
                f"*{AGE_EXT} entry (kubectl create secret generic … --from-file=age{AGE_EXT}=key.txt)",
                obj=obj,
                field="spec.decryption.secretRef",
            )
        entries: dict[str, str | bytes] = {}
        for name, value in (secret.get("data") or {}).items():
            try:
                entries[str(name)] = base64.b64decode(str(value), validate=True)
            except binascii.Error:
                raise DecryptionError(
                    f"the decryption {source} entry {name!r} is not base64",
                    obj=obj,
                    field="spec.decryption.secretRef",
                ) from None
        return cls.from_entries(entries, obj=obj, source=source)

    def secrets(self) -> list[str]:
        return list(self.age_identities)


class Decryptor:
    """Runs ``sops decrypt`` for one Kustomization with its keys, in a private folder."""

    def __init__(self, keys: DecryptionKeys, *, obj: str, sops: str | None = None) -> None:
        self.keys = keys
        self.obj = obj
        self.sops = sops or tool_path("sops")
        self._home: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Decryptor:
        self._home = tempfile.TemporaryDirectory(prefix="flux-sops-")
        os.chmod(self._home.name, 0o700)
        if self.keys.pgp_keys:
            self._import_pgp(Path(self._home.name) / "gnupg")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    def _env(self) -> dict[str, str]:
        assert self._home is not None, "use the Decryptor as a context manager"
        home = self._home.name
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,  # no ~/.ssh or ~/.config/sops key of the worker is ever used
            "GNUPGHOME": str(Path(home) / "gnupg"),
            "SOPS_AGE_KEY": "\n".join(self.keys.age_identities),
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def _import_pgp(self, gnupg: Path) -> None:
        gnupg.mkdir(mode=0o700)
        for key in self.keys.pgp_keys:
            done = subprocess.run(
                [tool_path("gpg"), "--batch", "--quiet", "--import"],
                input=key,
                capture_output=True,
                env={**self._env(), "GNUPGHOME": str(gnupg)},
                timeout=_TIMEOUT_SECONDS,
                check=False,
            )
            if done.returncode != 0:
                raise DecryptionError(
                    "an *.asc entry of the decryption Secret is not an armored OpenPGP private key",
                    obj=self.obj,
                    field="spec.decryption.secretRef",
                )

    def decrypt(self, data: bytes, *, input_format: str, output_format: str, where: str) -> bytes:
        """The plaintext of the SOPS document ``data`` (``where`` names it in errors)."""
        if len(data) > MAX_FILE_BYTES:
            raise DecryptionError(
                f"cannot decrypt {where}: {len(data)} bytes exceed the {MAX_FILE_BYTES} byte limit",
                obj=self.obj,
            )
        recipients = _recipients(data, input_format)
        if not recipients["age"] and not recipients["pgp"]:
            raise DecryptionError(
                f"cannot decrypt {where}: it is encrypted only for cloud key services "
                f"({', '.join(recipients['cloud']) or 'no key found'}); only age and OpenPGP keys are "
                "supported here: add an age recipient (sops updatekeys) and its identity to the "
                "decryption Secret",
                obj=self.obj,
            )
        assert self._home is not None, "use the Decryptor as a context manager"
        with tempfile.NamedTemporaryFile(dir=self._home.name, suffix=".sops") as handle:
            handle.write(_without_cloud_keys(data, input_format) if recipients["cloud"] else data)
            handle.flush()
            command = [
                self.sops,
                "decrypt",
                "--ignore-mac",  # as kustomize-controller: kustomize changed the object since
                "--input-type",
                input_format,
                "--output-type",
                output_format,
                handle.name,  # absolute, in our private folder: never read as a flag
            ]
            try:
                done = subprocess.run(
                    command, capture_output=True, env=self._env(), timeout=_TIMEOUT_SECONDS, check=False
                )
            except subprocess.TimeoutExpired:
                raise DecryptionError(
                    f"sops did not decrypt {where} in {_TIMEOUT_SECONDS}s", obj=self.obj
                ) from None
        if done.returncode != 0:
            raise DecryptionError(
                f"cannot decrypt {where}: {_reason(done.stderr)}; it is encrypted for "
                f"{_describe(recipients)}; put a matching key in the decryption Secret "
                f"(*{AGE_EXT} or *{PGP_EXT} entry)",
                obj=self.obj,
                field="spec.decryption",
            )
        return done.stdout

    # -- kustomize-controller's rules ------------------------------------------------------
    def decrypt_sources(self, mirror: Path, folder: Path, load: Any) -> None:
        """Decrypt, in place in the build's copy, what the kustomizations reachable from ``folder``
        feed to secretGenerator and patches (``load(path)`` reads a kustomization file)."""
        from airflow_flux_provider.kustomize.workspace import (
            REFERENCE_FIELDS,
            inside,
            is_remote,
            kustomization_file,
        )

        seen: set[Path] = set()
        done: set[Path] = set()
        queue = [folder.resolve()]
        while queue:
            here = queue.pop()
            if here in seen or not here.is_dir():
                continue
            seen.add(here)
            file = kustomization_file(here)
            if file is None:
                continue
            document = load(file, mirror)
            for ref, fmt in _source_files(document):
                path = (here / ref).resolve()
                if is_remote(ref) or path in done or not inside(mirror, path):
                    continue
                self._decrypt_file(path, fmt, mirror)
                done.add(path)
            for key in REFERENCE_FIELDS:
                for entry in document.get(key) or []:
                    if isinstance(entry, str) and not is_remote(entry):
                        queue.append((here / entry).resolve())

    def _decrypt_file(self, path: Path, fmt: str, mirror: Path) -> None:
        where = path.relative_to(mirror).as_posix()
        if path.is_symlink() or not path.is_file():
            if not path.exists():
                return  # kustomize reports the missing file
            raise DecryptionError(f"cannot decrypt {where}: not a regular file", obj=self.obj)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DecryptionError(
                f"cannot decrypt {where}: larger than the {MAX_FILE_BYTES} byte limit", obj=self.obj
            )
        data = path.read_bytes()
        if _FORMAT_MARKER[fmt] not in data:
            return
        plain = self.decrypt(data, input_format=fmt, output_format=fmt, where=where)
        path.unlink()  # a hard link into the source artifact: never write through it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(plain)

    def decrypt_object(self, obj: dict[str, Any], ref: str) -> dict[str, Any] | None:
        """The decrypted object, or ``None`` when it holds nothing SOPS-encrypted."""
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if str(annotations.get(DECRYPT_KEY, "")).lower() == "disabled":
            return None
        sops = obj.get("sops")
        if isinstance(sops, Mapping) and sops.get("mac"):
            plain = self.decrypt(
                json.dumps(obj).encode(), input_format="json", output_format="json", where=ref
            )
            decrypted = json.loads(plain)
            return decrypted if isinstance(decrypted, dict) else None
        if obj.get("kind") != "Secret" or not isinstance(obj.get("data"), Mapping):
            return None
        changed = False
        data = dict(obj["data"])
        for key, value in data.items():
            try:
                raw = base64.b64decode(str(value).replace("\n", ""), validate=True)
            except binascii.Error:
                continue
            fmt = detect_format(raw)
            if fmt is None:
                continue
            plain = self.decrypt(
                raw,
                input_format=fmt,
                output_format=format_for_path(str(key)),
                where=f"{ref} data key {key!r}",
            )
            data[key] = base64.b64encode(plain).decode()
            changed = True
        return {**obj, "data": data} if changed else None


def _source_files(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The files a kustomization's secretGenerators and patches read, with their sops format."""
    for generator in document.get("secretGenerator") or []:
        if not isinstance(generator, Mapping):
            continue
        for source in generator.get("files") or []:
            key, _, path = str(source).partition("=")
            yield (path or key), format_for_path(key)
        for env in generator.get("envs") or []:
            fmt = format_for_path(str(env))
            yield str(env), "dotenv" if fmt == "binary" else fmt
    for patch in document.get("patches") or []:
        if isinstance(patch, Mapping) and patch.get("path"):
            yield str(patch["path"]), format_for_path(str(patch["path"]))


def _metadata(data: bytes, fmt: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The parsed document and its key holders (``sops`` and each key group) for YAML/JSON."""
    try:
        document = yaml.safe_load(data) if fmt == "yaml" else json.loads(data)
    except (yaml.YAMLError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("sops"), dict):
        return None
    metadata = document["sops"]
    groups = [g for g in metadata.get("key_groups") or [] if isinstance(g, dict)]
    return document, [metadata, *groups]


def _recipients(data: bytes, fmt: str) -> dict[str, list[str]]:
    """The age recipients, OpenPGP fingerprints and cloud key kinds a document is encrypted for."""
    found: dict[str, list[str]] = {"age": [], "pgp": [], "cloud": []}
    if fmt in ("yaml", "json", "binary"):
        parsed = _metadata(data, fmt)
        for holder in parsed[1] if parsed else []:
            found["age"] += [str(k.get("recipient")) for k in holder.get("age") or [] if isinstance(k, dict)]
            found["pgp"] += [str(k.get("fp")).upper() for k in holder.get("pgp") or [] if isinstance(k, dict)]
            found["cloud"] += [name for name in _CLOUD_KEYS if holder.get(name)]
    else:
        text = data.decode("utf-8", errors="replace")
        found["age"] = re.findall(r"age__list_\d+__map_recipient\s*=\s*(\S+)", text)
        found["pgp"] = [fp.upper() for fp in re.findall(r"pgp__list_\d+__map_fp\s*=\s*(\S+)", text)]
        found["cloud"] = [name for name in _CLOUD_KEYS if re.search(rf"{name}__list_\d", text)]
    return {kind: sorted(set(values)) for kind, values in found.items()}


def _describe(recipients: Mapping[str, list[str]]) -> str:
    parts = [*recipients["age"], *(f"PGP {fp}" for fp in recipients["pgp"])]
    return ", ".join(parts) or "no age or OpenPGP key"


def _reason(stderr: bytes) -> str:
    """sops' first line, which says what failed (it holds key names, never values)."""
    for line in stderr.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("[warning]"):
            return line.rstrip(".")
    return "sops failed"


def _without_cloud_keys(data: bytes, fmt: str) -> bytes:
    """The document without its cloud key entries, so sops never calls a cloud service (the
    metadata is not covered by the MAC; age and OpenPGP entries stay)."""
    if fmt in ("yaml", "json", "binary"):
        parsed = _metadata(data, fmt)
        if parsed is None:
            return data  # sops reports the malformed document
        document, holders = parsed
        for holder in holders:
            for name in _CLOUD_KEYS:
                if name in holder:
                    holder[name] = []
        if fmt == "yaml":
            return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()
        return json.dumps(document).encode()
    prefixes = tuple(f"{name}__" for name in _CLOUD_KEYS)
    lines = data.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
    if fmt == "dotenv":
        kept = [line for line in lines if not line.startswith(tuple(f"sops_{p}" for p in prefixes))]
    else:  # ini: entries of the [sops] section
        kept, section = [], ""
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("[") and stripped.endswith("]"):
                section = stripped
            if not (section == "[sops]" and stripped.startswith(prefixes)):
                kept.append(line)
    return "".join(kept).encode("utf-8", errors="surrogateescape")
