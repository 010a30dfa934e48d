"""llama-cpp-python's own OpenAI-compatible server on loopback, started and stopped by us (tests and bench/).

Its command, for running one by hand (``pip install -e .[test]`` brings the server's packages)::

    python -m llama_cpp.server --model ~/.cache/supportlens/gguf/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \\
        --model_alias qwen2.5-coder-0.5b-instruct --host 127.0.0.1 --port 8000 --n_ctx 2048 --interrupt_requests False

``--interrupt_requests False`` matters: by default that server ends a streaming answer early (with a normal-looking
``[DONE]``) as soon as another request waits, which would cut summaries short whenever rows are sent concurrently.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from assistant.errors import ModelUnavailable, require


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(gguf: Path, alias: str, port: int, *, n_ctx: int = 2048, n_threads: int | None = None,
                   logprobs: bool = True) -> list[str]:
    """The command line that serves ``gguf`` as ``alias`` on ``127.0.0.1:port``. ``logprobs=False`` serves
    summaries only: that server keeps no logits for every prompt token (its ``logits_all``, which log-probabilities
    and so audits need), and reads prompts faster."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--interrupt_requests", "False",
               "--logits_all", str(logprobs)]
    return command + (["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)] if n_threads else [])


@contextmanager
def llama_server(gguf: Path, alias: str, *, n_ctx: int = 2048, n_threads: int | None = None, logprobs: bool = True,
                 ready_s: float = 120.0) -> Iterator[str]:
    """Serve ``gguf`` as ``alias`` on a free loopback port for the ``with`` block; yields the base URL (``.../v1``).
    Raises ModelUnavailable with the server's last output if it does not answer within ``ready_s``."""
    require("llama_cpp.server.app", "pip install -e .[test]  (llama-cpp-python's server packages)")
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(server_command(gguf, alias, port, n_ctx=n_ctx, n_threads=n_threads, logprobs=logprobs),
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            _wait_until_ready(url, proc, log, ready_s)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_ready(url: str, proc: subprocess.Popen, log, ready_s: float) -> None:  # noqa: ANN001 - a binary file
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):  # noqa: S310 - our own loopback server
                return
        except OSError:
            time.sleep(0.2)
    log.seek(0)
    tail = log.read().decode("utf-8", "replace")[-1500:]
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"did not answer in {ready_s:.0f} s"
    raise ModelUnavailable(f"The llama.cpp server at {url} {state}. Its output ends with:\n{tail}")
