"""Hosts for tests: Linux network namespaces on one private switch, made and always removed.

Each :class:`Host` is a network namespace with its own loopback and one interface ``eth0`` on
a private /24 (10.A.B.0/24, random, unroutable from anywhere else); the hosts' cables end in a
bridge inside one more namespace, the switch, so nothing is added to the machine's own
network. A process runs "on" a host through ``ip netns exec``; a host's link can be cut and
restored. :meth:`Network.close` kills every process started on a host, then deletes the
namespaces (and with them the bridge and the cables): fixtures call it in a finalizer.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class NetnsUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, or no ``ip``)."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def check_netns_available() -> None:
    """Raise :class:`NetnsUnavailable` unless a namespace can be made and removed here."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root and iproute2's `ip`")
    probe = f"colearn-probe-{uuid.uuid4().hex[:8]}"
    try:
        _ip("netns", "add", probe)
    except RuntimeError as exc:
        raise NetnsUnavailable(str(exc)) from exc
    _ip("netns", "delete", probe)


@dataclass
class Host:
    """One namespace on the switch: its name, address and the processes started on it."""

    name: str
    address: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def popen(
        self, command: Sequence[str], log: Path, env: dict[str, str], cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` on this host, its output appended to ``log``."""
        with log.open("ab") as output:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.name, *command],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def run(
        self, command: Sequence[str], env: dict[str, str], timeout: float = 120.0
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` on this host to completion, capturing its output."""
        return subprocess.run(["ip", "netns", "exec", self.name, *command], capture_output=True, env=env,
                              timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip

    def cut_link(self) -> None:
        """Unplug this host: its interface goes down (connections fail until :meth:`restore_link`)."""
        _ip("-n", self.name, "link", "set", "eth0", "down")

    def restore_link(self) -> None:
        """Plug it back in: the interface comes up with its address and route."""
        _ip("-n", self.name, "link", "set", "eth0", "up")


class Network:
    """A switch and the hosts plugged into it; :meth:`close` always removes all of it."""

    def __init__(self) -> None:
        self.prefix = f"cc{uuid.uuid4().hex[:6]}"
        self.subnet = f"10.{random.randint(16, 250)}.{random.randint(0, 255)}"
        self.switch = f"{self.prefix}-switch"
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self._add_namespace(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, role: str) -> Host:
        """A new host on the switch, at the next address of the subnet."""
        number = len(self.hosts) + 1
        host = Host(f"{self.prefix}-{role}", f"{self.subnet}.{number}")
        self._add_namespace(host.name)
        port = f"p{number}"  # the cable's switch end, named inside the switch's namespace
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.name)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.name, "link", "set", "eth0", "up")
        self.hosts[role] = host
        return host

    def close(self) -> None:
        """Kill every process started on a host, then delete every namespace; never raises."""
        for host in self.hosts.values():
            for process in host.processes:
                if process.poll() is None:
                    process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
        for name in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
        self._namespaces.clear()

    def leftovers(self) -> list[str]:
        """This network's namespaces that still exist (empty after :meth:`close`)."""
        listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
        return [line.split()[0] for line in listing.splitlines() if line.startswith(self.prefix)]
