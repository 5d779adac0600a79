"""Start and stop Anvil, the JSON-RPC node from the project's pinned npm install, on 127.0.0.1.

Used by the test fixtures and by ``colearn-chain node``. Anvil is bound to the loopback address
only, on a free port unless one is given, and is always stopped (terminate, then kill).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from colearn_chain.errors import ColearnRuntimeError
from colearn_chain.paths import NODE_MODULES

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0


class AnvilNotFound(ColearnRuntimeError):
    """The pinned Anvil is not installed (``npm install`` has not been run)."""


def anvil_executable() -> Path:
    """The Anvil binary: the platform package npm installed, else the npm launcher, else PATH."""
    for candidate in sorted(NODE_MODULES.glob("@foundry-rs/anvil-*/bin/anvil")):
        if candidate.is_file():
            return candidate
    launcher = NODE_MODULES / ".bin" / "anvil"
    if launcher.exists():
        return launcher
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise AnvilNotFound("Anvil is not installed: run `npm install` in the project directory")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class AnvilNode:
    """A running Anvil process and its RPC URL."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path | None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        """Stop the node: SIGTERM, then SIGKILL after 5 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _answers(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return bool(json.loads(response.read()).get("result"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_anvil(
    port: int | None = None,
    state_file: Path | None = None,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
) -> AnvilNode:
    """Start Anvil on 127.0.0.1 and wait until it answers JSON-RPC.

    Parameters
    ----------
    port:
        The port to listen on (a free one if None).
    state_file:
        Load the chain from this file at start and save it there at exit (``--state``).
    log_path:
        Where Anvil's output goes (discarded if None).
    """
    executable = anvil_executable()
    port = port or free_port()
    command = [str(executable), "--host", HOST, "--port", str(port), "--silent"]
    if state_file is not None:
        command += ["--state", str(state_file)]
    command += extra_args or []
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (owned by the process)
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    node = AnvilNode(process, port, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ColearnRuntimeError(f"Anvil exited with code {process.returncode} at start (port {port} taken?)")
        if _answers(node.url):
            return node
        time.sleep(0.05)
    node.stop()
    raise ColearnRuntimeError(f"Anvil did not answer on {node.url} within {STARTUP_TIMEOUT:.0f} s")


@contextlib.contextmanager
def running_anvil(**kwargs: object) -> Iterator[AnvilNode]:
    """A context in which an Anvil node runs; it is stopped on exit, whatever happens."""
    node = start_anvil(**kwargs)  # type: ignore[arg-type]
    try:
        yield node
    finally:
        node.stop()
