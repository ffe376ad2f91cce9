"""``sops-encrypt``: encrypt a Secret (or a secretGenerator input) for the GitOps repository.

    python -m airflow_flux_provider sops-encrypt secret.yaml --age age1… [--age age1…] [-i]

A Kubernetes manifest (``.yaml``/``.yml``/``.json``) gets only its ``data`` and ``stringData``
values encrypted, as Flux's SOPS guide does, so the rest stays reviewable in Git; any other
file (``.env``, ``.ini``, binary) is encrypted whole. The result goes to stdout, or replaces
the file with ``-i``. It runs the same ``sops`` the build decrypts with, for age recipients
only, without reading a ``.sops.yaml`` or any cloud key configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.kustomize.decryption import format_for_path
from airflow_flux_provider.tools import tool_path

AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")
SECRET_FIELDS = "^(data|stringData)$"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sops-encrypt", help="encrypt a Secret for the repository with SOPS + age")
    parser.add_argument("file", type=Path, help="the Secret manifest (or generator input) to encrypt")
    parser.add_argument(
        "--age",
        action="append",
        required=True,
        metavar="RECIPIENT",
        help="age public key (age1…), repeatable",
    )
    parser.add_argument("-i", "--in-place", action="store_true", help="replace the file instead of printing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for recipient in args.age:
        if not AGE_RECIPIENT.fullmatch(recipient):
            raise FluxError(
                f"--age {recipient[:80]!r} is not an age recipient; give the public key age1… "
                "(age-keygen -y key.txt prints it)",
                field="--age",
            )
    path: Path = args.file
    if not path.is_file():
        raise FluxError(f"{path} is not a file; give the Secret manifest to encrypt", field="file")
    fmt = format_for_path(path.name)
    with tempfile.TemporaryDirectory(prefix="flux-sops-") as home:
        rule = {"age": ",".join(args.age)}
        if fmt in ("yaml", "json"):
            rule["encrypted_regex"] = SECRET_FIELDS
        config = Path(home) / "sops.yaml"  # ours: never the repository's .sops.yaml
        config.write_text(json.dumps({"creation_rules": [rule]}))
        command = [
            tool_path("sops"),
            "--config",
            str(config),
            "encrypt",
            "--input-type",
            fmt,
            "--output-type",
            fmt,
        ]
        command.append(str(path.resolve()))  # absolute: never read as a flag (sops takes no "--")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
        done = subprocess.run(command, capture_output=True, env=env, check=False, timeout=60)
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise FluxError(
            f"sops could not encrypt {path}: {reason[0] if reason else 'unknown error'}", field="file"
        )
    if args.in_place:
        path.write_bytes(done.stdout)
        print(f"► {path} encrypted for {', '.join(args.age)}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(done.stdout)
    return 0
