"""SOPS decryption at build time with the real sops and age: kustomize-controller's rules."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from airflow_flux_provider.kustomize import DecryptionError, DecryptionKeys, RenderStore, render
from airflow_flux_provider.kustomize.decryption import Decryptor
from airflow_flux_provider.tools import tool_path
from tests.kustomize.conftest import kustomization, write_tree

PLAIN = "s3cr3t-pa55"
DECRYPTION = {"provider": "sops", "secretRef": {"name": "sops-age"}}
SECRET = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {PLAIN}\n"


@dataclass(frozen=True)
class AgeKey:
    identity: str
    recipient: str

    @classmethod
    def new(cls) -> AgeKey:
        text = subprocess.run([tool_path("age-keygen")], capture_output=True, text=True, check=True).stdout
        recipient = next(line for line in text.splitlines() if line.startswith("# public key:")).split()[-1]
        return cls(text, recipient)

    @property
    def keys(self) -> DecryptionKeys:
        return DecryptionKeys.from_entries({"identity.agekey": self.identity}, obj="test", source="test")


def encrypt(tmp_path: Path, key: AgeKey, text: str, name: str, *extra: str) -> str:
    """``sops encrypt --age`` of ``text`` as a file called ``name`` (the format follows the name)."""
    path = tmp_path / "plain" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    command = [tool_path("sops"), "encrypt", "--age", key.recipient, *extra, str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def age() -> AgeKey:
    return AgeKey.new()


@pytest.fixture
def sealed(tmp_path: Path) -> RenderStore:
    return RenderStore(tmp_path / "store", sealer=Fernet(Fernet.generate_key()))


def files_under(root: Path) -> Iterator[bytes]:
    return (p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_secrets_and_generator_inputs_are_decrypted_and_never_rest_in_plaintext(
    tmp_path: Path, age: AgeKey, sealed: RenderStore
) -> None:
    regex = ("--encrypted-regex", "^(data|stringData)$")
    source = write_tree(
        tmp_path / "src",
        {
            "app/secret.yaml": encrypt(tmp_path, age, SECRET, "secret.yaml", *regex),
            "app/json-secret.json": encrypt(
                tmp_path, age, json.dumps(yaml.safe_load(SECRET.replace("db", "json-db"))), "s.json", *regex
            ),
            "app/creds.env": encrypt(tmp_path, age, "TOKEN=tok-123\n", "creds.env"),
            "app/app.ini": encrypt(tmp_path, age, "[db]\nuser = ml\n", "app.ini"),
            "app/cert.bin": encrypt(tmp_path, age, "binary-blob", "cert.bin"),
            "app/conf.yaml": encrypt(tmp_path, age, "dsn: postgres://x\n", "conf.yaml"),
            "app/kustomization.yaml": "resources: [secret.yaml, json-secret.json]\nsecretGenerator:\n"
            "- name: gen\n  envs: [creds.env]\n  files: [app.ini, cert.bin, conf.yaml]\n",
        },
    )
    rendered = render(
        kustomization(decryption=DECRYPTION, targetNamespace="apps"),
        source,
        store=sealed,
        decryption_keys=age.keys,
    )
    assert rendered.sealed and rendered.path.endswith(".yaml.sealed")
    objects = {d["metadata"]["name"]: d for d in yaml.safe_load_all(sealed.text(rendered)) if d}
    assert objects["db"]["stringData"] == {"password": PLAIN} and "sops" not in objects["db"]
    assert objects["json-db"]["stringData"] == {"password": PLAIN}
    generated = next(d for name, d in objects.items() if name.startswith("gen-"))
    data = {k: base64.b64decode(v).decode() for k, v in generated["data"].items()}
    assert data["TOKEN"] == "tok-123"
    assert "user = ml" in data["app.ini"] and data["cert.bin"] == "binary-blob"
    assert "dsn: postgres://x" in data["conf.yaml"]
    # Nothing in plaintext on disk: not in the render store, not in the source artifact.
    for blob in [*files_under(tmp_path / "store"), *files_under(source)]:
        assert PLAIN.encode() not in blob and b"tok-123" not in blob and b"binary-blob" not in blob
    with pytest.raises(Exception, match="sealed"):
        rendered.read()


@pytest.mark.parametrize("field", ["resources", "bases"])
def test_generator_inputs_of_a_base_are_decrypted(
    tmp_path: Path, age: AgeKey, sealed: RenderStore, field: str
) -> None:
    """An overlay reaching its base through ``bases:`` (deprecated, still what the lecture writes)
    decrypts the base's generator inputs as kustomize reads it: as ``resources:``."""
    source = write_tree(
        tmp_path / "src",
        {
            "base/creds.env": encrypt(tmp_path, age, f"PASSWORD={PLAIN}\n", "creds.env"),
            "base/kustomization.yaml": "secretGenerator:\n- name: gen\n  envs: [creds.env]\n",
            "overlay/kustomization.yaml": f"{field}: [../base]\nnamespace: prod\n",
        },
    )
    ks = kustomization(decryption=DECRYPTION, path="./overlay")
    rendered = render(ks, source, store=sealed, decryption_keys=age.keys)
    (generated,) = yaml.safe_load_all(sealed.text(rendered))
    assert base64.b64decode(generated["data"]["PASSWORD"]).decode() == PLAIN


def test_secret_data_values_that_are_sops_documents(tmp_path: Path, age: AgeKey, sealed: RenderStore) -> None:
    """kustomize-controller decrypts a Secret's data value holding a SOPS file, output by the key's
    extension (a JSON document for .dockerconfigjson)."""
    docker = encrypt(tmp_path, age, json.dumps({"auths": {"r": {"auth": PLAIN}}}), "cfg.json")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pull"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(docker.encode()).decode(), "plain": "YWJj"},
    }
    source = write_tree(tmp_path / "src", {"app/pull.yaml": yaml.safe_dump(secret)})
    rendered = render(kustomization(decryption=DECRYPTION), source, store=sealed, decryption_keys=age.keys)
    (obj,) = yaml.safe_load_all(sealed.text(rendered))
    assert json.loads(base64.b64decode(obj["data"][".dockerconfigjson"])) == {"auths": {"r": {"auth": PLAIN}}}
    assert obj["data"]["plain"] == "YWJj"


def test_decrypt_disabled_objects_stay_encrypted(tmp_path: Path, age: AgeKey, sealed: RenderStore) -> None:
    encrypted = encrypt(tmp_path, age, SECRET, "secret.yaml", "--encrypted-regex", "^(data|stringData)$")
    marked = encrypted.replace(
        "name: db", "name: db\n    annotations:\n        kustomize.toolkit.fluxcd.io/decrypt: Disabled"
    )
    source = write_tree(tmp_path / "src", {"app/secret.yaml": marked})
    rendered = render(kustomization(decryption=DECRYPTION), source, store=sealed, decryption_keys=age.keys)
    assert "ENC[AES256_GCM" in sealed.text(rendered)


def test_wrong_key_names_the_file_and_its_recipients(
    tmp_path: Path, age: AgeKey, sealed: RenderStore
) -> None:
    source = write_tree(
        tmp_path / "src",
        {
            "app/creds.env": encrypt(tmp_path, age, f"TOKEN={PLAIN}\n", "creds.env"),
            "app/kustomization.yaml": "secretGenerator:\n- name: gen\n  envs: [creds.env]\n",
        },
    )
    with pytest.raises(DecryptionError) as caught:
        render(kustomization(decryption=DECRYPTION), source, store=sealed, decryption_keys=AgeKey.new().keys)
    message = str(caught.value)
    assert "cannot decrypt app/creds.env" in message and age.recipient in message
    assert PLAIN not in message and "AGE-SECRET-KEY" not in message
    assert not list((tmp_path / "store").rglob("*.sealed"))  # nothing rendered, so nothing applied


def test_missing_keys_and_unsealed_stores_are_refused(tmp_path: Path, age: AgeKey) -> None:
    source = write_tree(tmp_path / "src", {"app/secret.yaml": encrypt(tmp_path, age, SECRET, "secret.yaml")})
    with pytest.raises(DecryptionError, match=r"'sops-age'.*agekey"):
        render(kustomization(decryption=DECRYPTION), source, store=RenderStore(tmp_path / "s"))
    with pytest.raises(Exception, match="no key to seal"):
        render(
            kustomization(decryption=DECRYPTION),
            source,
            store=RenderStore(tmp_path / "s"),
            decryption_keys=age.keys,
        )
    assert not [p for p in (tmp_path / "s").rglob("*") if p.is_file() and p.suffix == ".yaml"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"sops.aws-kms": "aws_access_key_id: x"}, "AWS KMS entry"),
        ({"sops.vault-token": "s.xyz"}, "HashiCorp Vault entry"),
        ({"identity.agekey": "not a key"}, "holds no age identity"),
        ({"readme.txt": "hello"}, "holds no *.agekey or *.asc entry"),
    ],
)
def test_decryption_secret_entries_as_flux_reads_them(entries: dict[str, str], message: str) -> None:
    with pytest.raises(DecryptionError, match=message.replace("*", r"\*")) as caught:
        DecryptionKeys.from_entries(
            entries, obj="Kustomization/flux-system/app", source="Secret flux-system/sops"
        )
    assert caught.value.field == "spec.decryption.secretRef"


def test_files_encrypted_only_for_cloud_kms_are_refused_without_calling_a_cloud(age: AgeKey) -> None:
    document = {
        "data": "ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]",
        "sops": {
            "kms": [{"arn": "arn:aws:kms:eu-west-1:1:key/x", "enc": "Zm9v"}],
            "mac": "ENC[x]",
            "version": "3.11.0",
        },
    }
    with (
        Decryptor(age.keys, obj="Kustomization/flux-system/app") as decryptor,
        pytest.raises(DecryptionError, match=r"only for cloud key services \(kms\)"),
    ):
        decryptor.decrypt(
            json.dumps(document).encode(), input_format="json", output_format="json", where="x.json"
        )


def test_openpgp_keys_from_asc_entries(tmp_path: Path, sealed: RenderStore) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = [
        tool_path("gpg"),
        "--homedir",
        str(home),
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]
    subprocess.run(
        [*gpg, "--quick-gen-key", "flux-test@example.com", "rsa2048", "encrypt", "never"],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        [*gpg, "--with-colons", "--list-keys"], capture_output=True, text=True, check=True
    ).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    private = subprocess.run(
        [*gpg, "--armor", "--export-secret-keys", fingerprint], capture_output=True, check=True
    ).stdout
    plain = tmp_path / "plain" / "secret.yaml"
    plain.parent.mkdir()
    plain.write_text(SECRET)
    encrypted = subprocess.run(
        [
            tool_path("sops"),
            "encrypt",
            "--pgp",
            fingerprint,
            "--encrypted-regex",
            "^(data|stringData)$",
            str(plain),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"},
    ).stdout
    source = write_tree(tmp_path / "src", {"app/secret.yaml": encrypted})
    keys = DecryptionKeys.from_entries({"pgp.asc": private}, obj="test", source="test")
    rendered = render(kustomization(decryption=DECRYPTION), source, store=sealed, decryption_keys=keys)
    (obj,) = yaml.safe_load_all(sealed.text(rendered))
    assert obj["stringData"] == {"password": PLAIN}


def test_sops_encrypt_command_round_trips_through_the_build(
    tmp_path: Path, age: AgeKey, sealed: RenderStore, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_flux_provider.cli import main

    secret = tmp_path / "app" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    (tmp_path / "app" / ".sops.yaml").write_text("creation_rules:\n- kms: arn:aws:kms:eu-west-1:1:key/x\n")
    assert main(["sops-encrypt", str(secret), "--age", age.recipient, "-i"]) == 0
    encrypted = secret.read_text()
    assert PLAIN not in encrypted and "name: db" in encrypted and "kms: arn" not in encrypted
    (tmp_path / "app" / ".sops.yaml").unlink()
    rendered = render(kustomization(decryption=DECRYPTION), tmp_path, store=sealed, decryption_keys=age.keys)
    assert f"password: {PLAIN}" in sealed.text(rendered)
    capsys.readouterr()
    assert main(["sops-encrypt", str(secret), "--age=--help"]) == 1
    assert "is not an age recipient" in capsys.readouterr().err


def test_cloud_kms_options_of_the_spec_are_refused(tmp_path: Path, age: AgeKey, sealed: RenderStore) -> None:
    source = write_tree(tmp_path / "src", {"app/secret.yaml": encrypt(tmp_path, age, SECRET, "secret.yaml")})
    ks = kustomization(decryption={**DECRYPTION, "serviceAccountName": "kms-reader"})
    with pytest.raises(DecryptionError, match="cloud KMS, which is not supported here") as caught:
        render(ks, source, store=sealed, decryption_keys=age.keys)
    assert caught.value.field == "spec.decryption.serviceAccountName"
