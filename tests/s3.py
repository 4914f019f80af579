"""moto's S3 server over HTTP, for the s3 backend's tests: boto3 talks to it exactly as to a real store.

`s3_server` starts one server for the run (its state is in memory) with one bucket; `s3_files`
gives the `[files]` overrides that point an app at it. Import both fixtures into a
test module (`from tests.s3 import s3_files, s3_server  # noqa: F401`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

BUCKET = f"test-{uuid.uuid4().hex[:12]}"
CREDENTIALS = {"access_key_id": "test-key", "secret_access_key": "test-secret"}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto in server mode on a free loopback port, with an empty bucket BUCKET; its endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=CREDENTIALS["access_key_id"],
                 aws_secret_access_key=CREDENTIALS["secret_access_key"]).create_bucket(Bucket=BUCKET)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def s3_files(s3_server: str) -> dict[str, Any]:
    """`[files]` overrides that point an app at the moto server's bucket (keys are random: tests never collide)."""
    return {"backend": "s3", "s3": {"endpoint_url": s3_server, "bucket": BUCKET, "key_prefix": "svc/", **CREDENTIALS}}
