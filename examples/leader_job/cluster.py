"""Start a local 3-node cluster running a leader's periodic job, then kill the leader.

::

    python -m examples.leader_job.cluster [--base-port 3000] [--keep]

Shows that every node names the same leader, that only the leader runs the job
(once a second), then kills the leader with SIGKILL and shows a new leader taking
over within the failure-detection time, with a greater fencing token, continuing
the count from the last checkpoint.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from examples.chat.launch import LocalCluster, http


def _infos(cluster: LocalCluster, ports: list[int]) -> list[dict[str, Any]]:
    return [http("GET", cluster.url(p) + "/")[1] for p in ports]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-port", type=int, default=3000)
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    args = parser.parse_args()
    cluster = LocalCluster("examples.leader_job.node", args.base_port, 3, ["--every=0.5"])
    cluster.start_all()
    print(f"3 nodes started (logs in {cluster.workdir})")
    try:
        cluster.wait_ready(cluster.ports)
        ports = list(cluster.ports)
        infos: list[dict[str, Any]] = []
        for _ in range(100):
            infos = _infos(cluster, ports)
            if sum(i["is_leader"] for i in infos) == 1 and all(
                i["count"] or 0 for i in infos if i["is_leader"]
            ):
                break
            time.sleep(0.1)
        leader = next(i for i in infos if i["is_leader"])
        print(f"every node names the leader: {sorted({i['leader'] for i in infos})}")
        time.sleep(2)
        infos = _infos(cluster, ports)
        for info in infos:
            print(
                f"  {info['whoami']}: leads={info['is_leader']} runs here={info['runs_here']}"
                f" count={info['count']} token={info['token']}"
            )
        leader = next(i for i in infos if i["is_leader"])
        port = int(leader["whoami"].rpartition(":")[2])
        print(f"kill -9 the leader {leader['whoami']} (count {leader['count']})")
        cluster.kill(port)
        killed = time.monotonic()
        ports.remove(port)
        new: dict[str, Any] | None = None
        for _ in range(300):
            new = next((i for i in _infos(cluster, ports) if i["is_leader"] and i["count"]), None)
            if new is not None:
                break
            time.sleep(0.05)
        assert new is not None, "no new leader"
        print(
            f"new leader {new['whoami']} after {time.monotonic() - killed:.1f} s, token "
            f"{new['token']} (was {leader['token']}), count continues at {new['count']}"
        )
        if args.keep:
            print("running; Ctrl-C to stop")
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
