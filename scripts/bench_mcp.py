"""MCP servers as tool sets: how long listing the tools takes at start, and what an idle connection costs.

    uv run python scripts/bench_mcp.py [--rounds 5] [--idle 20]

Servers are tests/mcp_home.py (the `mcp` SDK's MCPServer, 9 tools). "http": the servers already run on
127.0.0.1 (streamable HTTP, bearer token), timed from ``McpManager.start()`` until every server's tools are
offered. "stdio": the appliance starts the servers itself, so the time includes each server's Python start.
The idle cost is measured in a fresh process: RSS and CPU time with no server, then with one connection held
for ``--idle`` seconds at the default ping interval (30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOME = ROOT / "tests" / "mcp_home.py"
TOKEN = "bench-token-0123456789"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_http(state: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HOME), "--state", str(state), "http", "--port", "0", "--token", TOKEN],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    port = proc.stderr.readline().split()[1]
    return proc, f"http://127.0.0.1:{port}/mcp"


def time_listing(servers: dict[str, dict[str, object]], tokens: dict[str, str]) -> float:
    from appliance.config.mcp import McpSettings
    from appliance.config.secrets import Secrets
    from appliance.mcp.manager import McpManager, ServerState

    settings = McpSettings(servers=servers)
    settings.validate()
    manager = McpManager(settings, Secrets({"mcp": tokens}, required=()))
    began = time.perf_counter()
    manager.start()
    up = manager.wait_for(lambda all_: all(s.state is ServerState.UP for s in all_), 60)
    took = time.perf_counter() - began
    manager.close()
    assert up, manager.status()
    return took * 1000


def idle_child(url: str, idle: float) -> None:
    """One process: the cost of the first MCP connection and of holding it idle."""
    import appliance.config.settings  # noqa: F401  (what the appliance has loaded anyway)
    import appliance.tools  # noqa: F401

    base_rss = rss_mb()
    from appliance.config.mcp import McpSettings
    from appliance.config.secrets import Secrets
    from appliance.mcp.manager import McpManager, ServerState

    imported_rss = rss_mb()
    settings = McpSettings(servers={"home": {"url": url}})
    manager = McpManager(settings, Secrets({"mcp": {"home": TOKEN}}, required=()))
    manager.start()
    assert manager.wait_for(lambda all_: all(s.state is ServerState.UP for s in all_), 60)
    connected_rss = rss_mb()
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    time.sleep(idle)
    cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    print(
        json.dumps(
            {
                "import_mb": imported_rss - base_rss,
                "connect_mb": connected_rss - imported_rss,
                "idle_cpu_percent": 100 * cpu / (wall1 - wall0),
                "idle_rss_growth_mb": rss_mb() - connected_rss,
            }
        )
    )
    manager.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        idle_child(args.child, args.idle)
        return
    with TemporaryDirectory() as tmp:
        procs = []
        try:
            urls = []
            for n in range(5):
                proc, url = start_http(Path(tmp) / f"h{n}.json")
                procs.append(proc)
                urls.append(url)
            print(f"| servers | transport | tools listed at start, median of {args.rounds} (min–max) |")
            print("|---|---|---|")
            for count in (1, 5):
                for transport in ("http", "stdio"):
                    labels = [f"s{n}" for n in range(count)]
                    if transport == "http":
                        servers: dict[str, dict[str, object]] = {lab: {"url": urls[n]} for n, lab in enumerate(labels)}
                    else:
                        servers = {
                            lab: {"command": [sys.executable, str(HOME), "--state", f"{tmp}/s{n}.json", "stdio"]}
                            for n, lab in enumerate(labels)
                        }
                    times = [time_listing(servers, {lab: TOKEN for lab in labels}) for _ in range(args.rounds)]
                    print(
                        f"| {count} | {transport} | {statistics.median(times):.0f} ms "
                        f"({min(times):.0f}–{max(times):.0f}) |"
                    )
            out = subprocess.run(
                [sys.executable, __file__, "--child", urls[0], "--idle", str(args.idle)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ | {"PYTHONPATH": str(ROOT)},
            )
            idle = json.loads(out.stdout.strip().splitlines()[-1])
            print()
            print(f"importing the MCP manager (mcp SDK, httpx2, pydantic models): +{idle['import_mb']:.1f} MB RSS")
            print(f"one connected HTTP server, its tools offered: +{idle['connect_mb']:.1f} MB RSS")
            print(
                f"idle for {args.idle:g} s: {idle['idle_cpu_percent']:.2f} % of a core, "
                f"RSS {idle['idle_rss_growth_mb']:+.1f} MB"
            )
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
