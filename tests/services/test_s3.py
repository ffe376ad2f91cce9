"""The s3_server fixture is real object storage that checks SigV4 signatures."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from flux_devkit.services.process import ServiceError
from flux_devkit.services.s3 import S3Server


def test_put_and_list_objects(s3_server: S3Server) -> None:
    s3_server.create_bucket("svc-manifests", {"apps/podinfo.yaml": b"kind: Deployment\n", "README": b"hi"})
    client = s3_server.client()
    client.put_object(Bucket="svc-manifests", Key="apps/extra.yaml", Body=b"kind: Service\n")
    listed = client.list_objects_v2(Bucket="svc-manifests", Prefix="apps/")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["apps/extra.yaml", "apps/podinfo.yaml"]
    body = client.get_object(Bucket="svc-manifests", Key="apps/podinfo.yaml")["Body"].read()
    assert body == b"kind: Deployment\n"


def test_wrong_secret_is_rejected(s3_server: S3Server) -> None:
    s3_server.create_bucket("svc-private", {"k": b"v"})
    intruder = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
        region_name=s3_server.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as err:
        intruder.list_objects_v2(Bucket="svc-private")
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_invalid_bucket_name_is_a_clear_error(s3_server: S3Server) -> None:
    with pytest.raises(ServiceError, match=r"bucket b: S3 refused: InvalidBucketName; bucket names are 3-63"):
        s3_server.create_bucket("b")
