"""Access control on a running app: exposed without a login refuses to start; with a login, anonymous calls fail."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_exposed_without_credentials_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTLENS_AUTH"}
    out = subprocess.run([sys.executable, str(REPO / "app.py"), "--host", "0.0.0.0", "--port", "7899"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "login" in out.stderr.lower(), out.stderr


@pytest.mark.real_model
def test_with_credentials_anonymous_requests_are_refused(tmp_path):
    from gradio_client import Client

    from assistant.local_server import free_port

    port = free_port()
    env = {**os.environ, "SUPPORTLENS_AUTH": "alice:s3cret", "SUPPORTLENS_KB": str(tmp_path / "kb"),
           "SUPPORTLENS_DATA": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except urllib.error.HTTPError:
                break  # the server answers (a login page or 401): up
            except OSError:
                time.sleep(1)
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises a plain error on 401
            Client(url, verbose=False).predict("Customer: hi\nAgent: hello", [], api_name="/summarize")
        with pytest.raises(Exception):  # noqa: B017
            Client(url, auth=("alice", "wrong"), verbose=False)
        history, _ = Client(url, auth=("alice", "s3cret"), verbose=False).predict(
            "Customer: my parcel is late\nAgent: sorry, DM us", [], api_name="/summarize")
        assert history[-1]["content"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
