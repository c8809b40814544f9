"""Start a local 3-node chat cluster and talk in it.

::

    python -m examples.chat.cluster [--base-port 3000] [--keep]

Posts from different nodes into two rooms, reads them back through every node
(each room lives on one node: its owner), then stops one node gracefully and shows
the room continuing, with its messages, on its new owner. ``--keep`` leaves the
rest running (Ctrl-C stops them).
"""

from __future__ import annotations

import argparse
import signal
import sys

from examples.chat.launch import LocalCluster, http


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-port", type=int, default=3000)
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    args = parser.parse_args()
    cluster = LocalCluster("examples.chat.node", args.base_port, 3, [])
    cluster.start_all()
    print(f"3 chat nodes started (logs in {cluster.workdir})")
    try:
        cluster.wait_ready(cluster.ports)
        ports = cluster.ports
        for i, (room, user, text) in enumerate(
            [
                ("lobby", "ann", "hello"),
                ("lobby", "bob", "hi ann"),
                ("dev", "ann", "ship it"),
                ("lobby", "cy", "hey all"),
                ("dev", "bob", "tests first"),
            ]
        ):
            port = ports[i % len(ports)]
            status, answer = http(
                "POST", cluster.url(port) + f"/rooms/{room}", {"user": user, "text": text}
            )
            print(
                f"POST :{port + 1000}/rooms/{room} {user}: {text!r} -> {status} seq "
                f"{answer['seq']} (room on {answer['room_owner']})"
            )
        for port in ports:
            _, answer = http("GET", cluster.url(port) + "/rooms/lobby")
            said = [f"{m['user']}: {m['text']}" for m in answer["messages"]]
            print(f"GET  :{port + 1000}/rooms/lobby -> {said} (room on {answer['room_owner']})")
        for _ in range(6):
            status, _ = http(
                "POST", cluster.url(ports[0]) + "/rooms/dev", {"user": "spammer", "text": "buy"}
            )
        print(f"spammer's 6th post in 10 s -> {status}")
        _, answer = http("GET", cluster.url(ports[0]) + "/rooms/lobby")
        owner = int(answer["room_owner"].rpartition(":")[2])
        print(f"stopping the lobby's owner :{owner} (SIGTERM: it hands its rooms over)")
        cluster.procs.pop(owner).send_signal(signal.SIGTERM)
        rest = [p for p in ports if p != owner]
        cluster.wait_ready(rest)
        _, answer = http("GET", cluster.url(rest[0]) + "/rooms/lobby")
        said = [f"{m['user']}: {m['text']}" for m in answer["messages"]]
        print(f"GET  :{rest[0] + 1000}/rooms/lobby -> {said} (room now on {answer['room_owner']})")
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
