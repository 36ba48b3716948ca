"""The README's curl walkthrough runs as written against `aura serve` on a real socket."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _walkthrough() -> str:
    section = README.read_text().split("## Run the platform", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None, "the Run the platform section has no sh block"
    return block.group(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="curl is not installed here")
def test_the_walkthrough_logs_in_books_and_is_refused_where_it_should(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "AURA_DATABASE": str(tmp_path / "aura.db"),
        "AURA_TOKEN_KEYS": str(tmp_path / "token-keys.json"),
    }
    aura = Path(sys.executable).parent / "aura"
    server = subprocess.Popen(
        [str(aura), "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        for _ in range(3):  # database, token keys, "Aura serves ..." once listening
            server.stdout.readline()
        # As written: only the address and the place of the aura command differ.
        script = (
            _walkthrough()
            .replace("localhost:8000", f"127.0.0.1:{port}")
            .replace(".venv/bin/aura", str(aura))
        )
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=20)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"email":"pat@example.com"' in out
    assert '"role":"therapist"' in out
    assert '"status":"scheduled"' in out  # Pat booked with Pat's own token
    assert '"template":"session_confirmation"' in out
    assert '"amount_cents":9000' in out
    assert "HTTP/1.1 404 Not Found" in out
    assert "Nothing here that you may see: it does not exist, or it is not yours." in out
    assert "HTTP/1.1 401 Unauthorized" in out
    assert 'www-authenticate: bearer realm="aura"' in out.lower()
    assert '"modules":' in out  # the operator read /api/_modules
