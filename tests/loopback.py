"""Free TCP ports on 127.0.0.1 for servers started by the tests and benchmarks/bench_serving.py.
Importable from every test folder (tests/conftest.py puts tests/ on sys.path)."""
from __future__ import annotations

import socket
from typing import List


def free_ports(n: int) -> List[int]:
    """n distinct ports that were free a moment ago: all n sockets stay bound until the last one
    is, so the kernel cannot hand out the same port twice."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
