"""``python -m flux_devkit.services`` starts services for the demo and stops them on SIGTERM."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests
import sqlalchemy

from flux_devkit.services.process import http_status

CLI = [sys.executable, "-m", "flux_devkit.services"]


def test_cli_starts_writes_private_info_and_stops_on_sigterm(tmp_path: Path) -> None:
    info_file = tmp_path / "services.json"
    work = str(tmp_path / "work")
    args = ["--only", "git,registry,charts,postgres", "--workdir", work, "--info-file", str(info_file)]
    cli = subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert cli.stdout is not None
        banner = [cli.stdout.readline() for _ in range(5)]
        assert banner[-1].startswith("credentials:"), banner
        assert stat.S_IMODE(info_file.stat().st_mode) == 0o600
        info = json.loads(info_file.read_text())
        assert set(info) == {"git", "registry", "charts", "postgres"}
        registry = f"http://{info['registry']['host']}/v2/"
        assert requests.get(registry, timeout=10).status_code == 401
        creds = (info["registry"]["username"], info["registry"]["password"])
        assert requests.get(registry, auth=creds, timeout=10).status_code == 200
        assert requests.get(f"{info['charts']['url']}/index.yaml", timeout=10).status_code == 200
        database = sqlalchemy.create_engine(info["postgres"]["url"])
        with database.connect() as connection:
            assert connection.execute(sqlalchemy.text("SELECT current_user")).scalar() == "airflow"
        database.dispose()
        # Secrets go to the private file only, never to the terminal.
        assert info["registry"]["password"] not in "".join(banner)
        assert info["postgres"]["password"] not in "".join(banner)

        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while http_status(registry, timeout=0.5) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert http_status(registry, timeout=0.5) is None
    finally:
        if cli.poll() is None:
            cli.terminate()
            cli.wait(timeout=60)


def test_cli_rejects_an_unknown_service(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flux_devkit.services",
            "--only",
            "git,kafka",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    choices = "git, registry, s3, mlflow, prometheus, charts, postgres"
    assert f"unknown service(s) kafka; choose from {choices}" in result.stderr
