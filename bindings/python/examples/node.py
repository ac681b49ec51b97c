"""One hearsay node on loopback, driven from the command line, for
cross-language tests; same options and output as bindings/cpp/examples/node.cpp
and bindings/go/cmd/hearsay-node:

    node.py NAME [--join ADDR] [--expect-members N] [--send EVENT_NAME]
            [--payload TEXT] [--expect-events N] [--timeout-ms T]

Prints "ADDR <ip:port>" first, then "EVENT <name> <payload>" for every user
event received; exits 0 once it has seen N alive members and N user events
(after leaving gracefully), 1 at the timeout, 2 on bad usage or an error.
"""

import argparse
import sys
import time

import hearsay


def main() -> int:
    parser = argparse.ArgumentParser(prog="node.py")
    parser.add_argument("name")
    parser.add_argument("--join")
    parser.add_argument("--send")
    parser.add_argument("--payload")
    parser.add_argument("--expect-members", type=int, default=0)
    parser.add_argument("--expect-events", type=int, default=0)
    parser.add_argument("--timeout-ms", type=int, default=30000)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout_ms / 1000
    with hearsay.Runtime() as rt:
        pool = rt.pool(
            profile="local",
            node_name=args.name,
            probe_interval_ms=200,
            probe_timeout_ms=100,
            gossip_interval_ms=50,
            push_pull_interval_ms=1000,
            retransmit_mult=4,
        )
        print(f"ADDR {pool.local_addr}", flush=True)
        if args.join:
            while True:
                try:
                    if pool.join(args.join) > 0:
                        break
                except hearsay.HearsayError:
                    pass
                if time.monotonic() > deadline:
                    print(f"could not join {args.join}", file=sys.stderr)
                    return 1
                time.sleep(0.1)
        sent = args.send is None
        events = 0
        complete = False  # once the expected membership was seen; others may leave after
        while True:
            alive = sum(1 for m in pool.members() if m.status == hearsay.Status.ALIVE)
            complete = complete or alive >= args.expect_members
            if not sent and complete:
                pool.send_event(args.send, (args.payload or args.name).encode())
                sent = True
            if sent and complete and events >= args.expect_events and (
                args.expect_members or args.expect_events
            ):
                pool.leave(2.0)
                return 0
            event = pool.next_event(timeout=0.1)
            if isinstance(event, hearsay.UserEvent):
                print(f"EVENT {event.name} {event.payload.decode(errors='replace')}", flush=True)
                events += 1
            if time.monotonic() > deadline:
                if not (args.expect_members or args.expect_events):
                    return 0
                print(f"timed out with {alive} alive and {events} events", file=sys.stderr)
                return 1


if __name__ == "__main__":
    sys.exit(main())
