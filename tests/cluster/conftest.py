"""A local 3-master Redis Cluster for the session, from the ``redis-server`` binary.

CI installs Debian's ``redis-server`` package, so a missing binary fails the
tests that need the cluster (it does not skip them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster_util import ClusterStartError, LocalCluster, find_redis_server


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A fresh 3-master cluster (no replicas) on free loopback ports; every node is killed at the end."""
    server = find_redis_server()
    if server is None:
        pytest.fail(
            "redis-server not found (PATH, /usr/bin): the cluster tests need it; "
            "install Debian's redis-server package (apt-get install redis-server redis-tools)",
            pytrace=False,
        )
    cluster = LocalCluster(server, tmp_path_factory.mktemp("redis-cluster"), masters=3)
    try:
        try:
            cluster.start()
        except ClusterStartError as e:
            pytest.fail(f"could not start the local Redis Cluster: {e}", pytrace=False)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def cluster_url(local_cluster: LocalCluster) -> str:
    """Seed URL of the cluster: ``redis://127.0.0.1:<port>`` of its first master."""
    return local_cluster.seed_url
