"""A real local Ray cluster for tests and measurements: a head and worker nodes on 127.0.0.1.

    c = Cluster(worker_nodes=1); c.start(); ...; c.run("encode", ..., "--ray", c.address); c.stop()

Started with `ray start` (as docs/cluster.md tells users to), one CPU per node, its own temp
folder and auth token; stopped by killing exactly the processes it started (never `ray stop`,
which would stop every Ray instance on the machine). Linux only (/proc).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Ray rewrites 127.0.0.1 to the machine's outward address in `ray start`; keep the test cluster on
# loopback by starting the nodes through this wrapper (spikecodec.batch does the same for drivers).
_RAY_START = (
    "import sys, ray._private.services as s; s.resolve_ip_for_localhost = lambda h: h; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)
_NODE_ARGS = ["--num-cpus", "1", "--object-store-memory", str(100 * 1024 * 1024), "--node-ip-address", "127.0.0.1",
              "--disable-usage-stats"]


def _procs() -> dict:
    """pid -> (ppid, cmdline) for every process we can read (Linux /proc)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        out[int(d)] = (ppid, cmd)
    return out


def _tree(roots) -> set:
    """The given pids and all their descendants."""
    procs = _procs()
    found, todo = set(), [p for p in roots if p in procs]
    while todo:
        p = todo.pop()
        if p in found:
            continue
        found.add(p)
        todo += [c for c, (pp, _) in procs.items() if pp == p]
    return found


def _kill(pids) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, worker_nodes: int = 1):
        self.temp = tempfile.mkdtemp(prefix="spkray", dir="/tmp")  # short: Ray's socket paths live here
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        path = [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        self.env.update({
            "PYTHONPATH": os.pathsep.join(path),  # the workers run this checkout
            "OMP_NUM_THREADS": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",  # a token of this test's own, not ~/.ray's
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            # notice a dead node in about 2 s instead of about 30 s
            "RAY_health_check_initial_delay_ms": "1000",
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "500",
            "RAY_health_check_failure_threshold": "3",
        })
        self.worker_nodes = worker_nodes
        self.worker_pids: list = []  # per worker node: its raylet and helpers

    def ours(self) -> set:
        """Every process of this cluster: those naming its temp dir, and their descendants."""
        return _tree([p for p, (_, cmd) in _procs().items() if self.temp in cmd])

    def _ray_start(self, *args) -> None:
        r = subprocess.run([sys.executable, "-c", _RAY_START, "start", *args, *_NODE_ARGS, "--temp-dir", self.temp],
                           env=self.env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    def start(self) -> None:
        self._ray_start("--head", "--port", str(self.port), "--include-dashboard=false")
        for _ in range(self.worker_nodes):
            before = self.ours()
            self._ray_start("--address", self.address)
            self.worker_pids.append(self.ours() - before)

    def kill_worker_node(self, k: int = 0) -> None:
        """SIGKILL worker node k's processes (raylet, helpers, the workers it started)."""
        _kill(_tree(self.worker_pids[k]))

    def stop(self) -> None:
        for _ in range(10):
            pids = self.ours()
            if not pids:
                break
            _kill(pids)
            time.sleep(0.5)
        shutil.rmtree(self.temp, ignore_errors=True)

    def run(self, *args, timeout: float = 600) -> subprocess.CompletedProcess:
        """``python -m spikecodec ARGS`` with this cluster's environment."""
        return subprocess.run([sys.executable, "-m", "spikecodec", *[str(a) for a in args]], env=self.env,
                              capture_output=True, timeout=timeout)
