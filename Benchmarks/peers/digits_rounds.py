#!/usr/bin/env python3
"""A digits network (--model residual, the default, or cnn) against its peers, PyTorch eager
(digits_torch.py) and JAX (digits_jax.py), interleaved: each round runs the `digits` example and
each peer once (the order rotates from round to round), on the same threads; each prints its
median epoch (ours: of the epochs after the first; a peer's: after an untimed warm-up epoch).
Prints every round, then the medians over the rounds and, per peer, the median of the rounds'
ratios, with the load average.

    swift build -c release --package-path Examples --product digits
    $VENV/bin/python Benchmarks/peers/digits_rounds.py --threads 2 --rounds 5
    $VENV/bin/python Benchmarks/peers/digits_rounds.py --model cnn --peers torch,jax
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def median_epoch_ms(command):
    """Runs command; the median epoch it printed, in milliseconds."""
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"epochs after the first: median ([0-9.]+) ms", out)
    if found:
        return float(found.group(1))
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")][-1][
        "median_epoch_ms"]


PEERS = {"torch": "digits_torch.py", "jax": "digits_jax.py"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", choices=("cnn", "residual"), default="residual")
    parser.add_argument("--peers", default="torch",
                        help="comma-separated: torch (digits_torch.py), jax (digits_jax.py)")
    parser.add_argument("--digits", default=os.path.join(ROOT, "Examples", ".build", "release",
                                                         "digits"),
                        help="the built digits example")
    args = parser.parse_args()
    threads = str(args.threads)
    peers = [p for p in args.peers.split(",") if p]
    for peer in peers:
        if peer not in PEERS:
            parser.error("unknown peer %r (known: %s)" % (peer, ", ".join(PEERS)))
    contenders = [("ours", [args.digits, "--model", args.model, "--threads", threads])]
    contenders += [(peer, [sys.executable, os.path.join(HERE, PEERS[peer]), "--model",
                           args.model, "--threads", threads]) for peer in peers]
    times = {name: [] for name, _ in contenders}
    loads = []
    for r in range(args.rounds):
        shift = r % len(contenders)
        for name, command in contenders[shift:] + contenders[:shift]:
            times[name].append(median_epoch_ms(command))
        loads.append(os.getloadavg()[0])
        print("round %d: %s per epoch, load %.1f" % (r + 1, ", ".join(
            "%s %.1f ms" % (name, times[name][-1]) for name, _ in contenders), loads[-1]),
              flush=True)
    print("%s, %s thread(s), %d rounds, load average %.1f-%.1f; medians over the rounds:" % (
        args.model, threads, args.rounds, min(loads), max(loads)))
    print("  ours %.1f ms per epoch" % statistics.median(times["ours"]))
    for peer in peers:
        ratios = [t / o for o, t in zip(times["ours"], times[peer])]
        print("  %s %.1f ms per epoch; %s/ours %.2f (median of the rounds' ratios, %.2f-%.2f)" % (
            peer, statistics.median(times[peer]), peer, statistics.median(ratios), min(ratios),
            max(ratios)))


if __name__ == "__main__":
    main()
