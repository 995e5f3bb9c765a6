"""A throwaway local Redis Cluster for tests: N masters, no replicas, loopback only.

Each node is a ``redis-server`` in its own directory with persistence off. The
slots are split evenly with CLUSTER ADDSLOTS and the nodes are joined with
CLUSTER MEET; :meth:`LocalCluster.start` returns once every node reports
``cluster_state:ok`` with all slots assigned and every node known.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

SLOTS = 16384
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000
HOST = "127.0.0.1"


class ClusterStartError(RuntimeError):
    """The local cluster could not be started; the message says why."""


def find_redis_server() -> str | None:
    """The ``redis-server`` binary on PATH, or Debian's, or None."""
    found = shutil.which("redis-server")
    if found:
        return found
    debian = Path("/usr/bin/redis-server")
    return str(debian) if debian.exists() else None


def free_port_pair() -> int:
    """A loopback port that is free and whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port: int = s.getsockname()[1]
            if port + BUS_OFFSET > 65535:
                continue
            with socket.socket() as bus:
                try:
                    bus.bind((HOST, port + BUS_OFFSET))
                except OSError:
                    continue
            return port
    raise ClusterStartError("no free pair of loopback ports (port, port + 10000)")


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Inclusive slot ranges, split as evenly as ``redis-cli --cluster create`` does."""
    size = SLOTS / masters
    return [(round(i * size), round((i + 1) * size) - 1) for i in range(masters)]


def command(client: redis.Redis, *args: str | int) -> Any:
    """Send a raw command (redis-py's ``execute_command`` is untyped)."""
    untyped: Any = client
    return untyped.execute_command(*args)


def cluster_info(client: redis.Redis) -> dict[str, str]:
    """CLUSTER INFO as a dict of strings."""
    raw = command(client, "CLUSTER", "INFO")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in pairs}


@dataclass
class Node:
    """One running ``redis-server`` of the cluster."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        """A plain (non-cluster) client on this node only."""
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5, socket_connect_timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the node's log, for error messages."""
        text = ""
        for name in ("redis.log", "stderr.log"):
            with contextlib.suppress(OSError):
                text += (self.workdir / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"


class LocalCluster:
    """Start with :meth:`start`, always :meth:`stop` (it kills every node it started)."""

    def __init__(self, server: str, root: Path, *, masters: int = 3, timeout: float = 30.0) -> None:
        self.server = server
        self.root = root
        self.masters = masters
        self.timeout = timeout
        self.nodes: list[Node] = []

    @property
    def seed_url(self) -> str:
        """A plain ``redis://`` URL of the first node (the cluster client discovers the rest)."""
        return f"redis://{HOST}:{self.nodes[0].port}"

    def start(self) -> str:
        """Start the nodes, assign the slots, join them and wait for ``cluster_state:ok``."""
        deadline = time.monotonic() + self.timeout
        for i in range(self.masters):
            self.nodes.append(self._start_node(i, deadline))
        clients = [node.client() for node in self.nodes]
        try:
            for client, (first, last) in zip(clients, slot_ranges(self.masters), strict=True):
                command(client, "CLUSTER", "ADDSLOTS", *range(first, last + 1))
            for node in self.nodes[1:]:
                command(clients[0], "CLUSTER", "MEET", HOST, node.port)
            self._wait_until_ok(clients, deadline)
        finally:
            for client in clients:
                client.close()
        return self.seed_url

    def stop(self) -> None:
        """Kill every node started (terminate, then kill if it lingers)."""
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            try:
                node.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(timeout=5)
        self.nodes.clear()

    def _start_node(self, index: int, deadline: float) -> Node:
        """Start one node and wait until it answers PING; retry on a port lost to a race."""
        workdir = self.root / f"node{index}"
        workdir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):
            port = free_port_pair()
            # fmt: off
            argv = [
                self.server,
                "--port", str(port), "--bind", HOST, "--dir", str(workdir),
                "--logfile", str(workdir / "redis.log"),
                "--cluster-enabled", "yes", "--cluster-config-file", str(workdir / f"nodes-{port}.conf"),
                "--cluster-node-timeout", "5000",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
            ]
            # fmt: on
            with (workdir / "stderr.log").open("wb") as stderr:
                process = subprocess.Popen(
                    argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
                )
            node = Node(port, workdir, process)
            if self._wait_for_ping(node, deadline):
                return node
            if process.poll() is None:
                process.kill()
            process.wait(timeout=5)
            last_error = node.log_tail()
        raise ClusterStartError(f"redis-server node {index} did not start:\n{last_error.strip()}")

    def _wait_for_ping(self, node: Node, deadline: float) -> bool:
        """True once the node answers; False if it exits or the deadline passes."""
        client = node.client()
        try:
            while time.monotonic() < deadline and node.process.poll() is None:
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    if client.ping():
                        return True
                time.sleep(0.01)  # polling interval, not synchronisation
            return False
        finally:
            client.close()

    def _wait_until_ok(self, clients: list[redis.Redis], deadline: float) -> None:
        """Poll CLUSTER INFO on every node until all agree the cluster is complete and ok."""
        want = {"cluster_state": "ok", "cluster_slots_assigned": str(SLOTS)}
        known = str(self.masters)
        infos: list[dict[str, str]] = []
        while True:
            infos = [cluster_info(c) for c in clients]
            if all(
                all(info.get(k) == v for k, v in want.items()) and info.get("cluster_known_nodes") == known
                for info in infos
            ):
                return
            for node in self.nodes:
                if node.process.poll() is not None:
                    raise ClusterStartError(f"node on port {node.port} exited:\n{node.log_tail()}")
            if time.monotonic() > deadline:
                states = [
                    {k: i.get(k) for k in ("cluster_state", "cluster_slots_assigned", "cluster_known_nodes")}
                    for i in infos
                ]
                raise ClusterStartError(f"cluster not ok after {self.timeout:.0f}s: {states}")
            time.sleep(0.05)  # polling interval, not synchronisation
