from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notifications.capture import CaptureServer, TLSCaptureServer, self_signed_certificate


@pytest.fixture(scope="session")
def capture_server(services_dir: Path) -> Iterator[CaptureServer]:
    server = CaptureServer(services_dir / "capture" / "capture.log")
    yield server
    server.stop()


@pytest.fixture
def capture(capture_server: CaptureServer) -> CaptureServer:
    capture_server.take()
    return capture_server


@pytest.fixture(scope="session")
def tls_capture_server(services_dir: Path) -> Iterator[TLSCaptureServer]:
    server = TLSCaptureServer(services_dir / "capture-tls" / "capture.log", *self_signed_certificate())
    yield server
    server.stop()
