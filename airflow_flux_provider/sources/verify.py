"""Signature verification of the fetched commit and/or tag (GitRepository ``spec.verify``).

Flux trusts a revision only if its signature checks out against the PGP public keys in
the Secret named by ``verify.secretRef``; here they come from the connection of that name.
The keys go into a throw-away GnuPG home, so the worker's own keyring is never consulted.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from airflow_flux_provider.sources.errors import SourceError

PGP_PUBLIC_BLOCK = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


class VerificationError(SourceError):
    """The revision is unsigned, or signed by a key that is not trusted."""


@dataclass(frozen=True)
class Verification:
    """``spec.verify.mode`` plus the armored public keys read from its ``secretRef``."""

    mode: str = "HEAD"
    public_keys: tuple[str, ...] = ()

    @property
    def head(self) -> bool:
        return self.mode in ("HEAD", "head", "TagAndHEAD")

    @property
    def tag(self) -> bool:
        return self.mode in ("Tag", "TagAndHEAD")

    @classmethod
    def keys_from(cls, values: Mapping[str, str | None]) -> tuple[str, ...]:
        """The armored public keys among a connection's fields (e.g. extras named ``*.asc``)."""
        return tuple(v for v in values.values() if v and PGP_PUBLIC_BLOCK in v)


@contextlib.contextmanager
def keyring(keys: tuple[str, ...], gpg: str, *, obj: str) -> Iterator[dict[str, str]]:
    """Environment entries pointing git's ``gpg`` at a private keyring holding only ``keys``."""
    if not keys:
        raise VerificationError(
            "spec.verify is set but its secretRef connection holds no armored PGP public key; "
            "add one (e.g. an extra named 'author.asc')",
            obj=obj,
            field="spec.verify.secretRef",
        )
    with tempfile.TemporaryDirectory(prefix="flux-gpg-") as home:
        env = {"GNUPGHOME": home}
        for key in keys:
            done = subprocess.run(
                [gpg, "--batch", "--quiet", "--import"],
                input=key.encode(),
                env={"GNUPGHOME": home, "PATH": "/usr/bin:/bin"},
                capture_output=True,
                check=False,
            )
            if done.returncode != 0:
                raise VerificationError(
                    "a key in the verify.secretRef connection is not an armored PGP public key",
                    obj=obj,
                    field="spec.verify.secretRef",
                )
        try:
            yield env
        finally:
            subprocess.run(
                ["gpgconf", "--kill", "gpg-agent"],
                env={**env, "PATH": "/usr/bin:/bin"},
                capture_output=True,
                check=False,
            )
