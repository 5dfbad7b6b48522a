#!/usr/bin/env python3
"""The residual digits network against PyTorch eager (digits_torch.py), interleaved: each
round runs the `digits` example and the peer once each (who goes first alternates), on the
same threads; each prints its median epoch (ours: of the epochs after the first; the peer's:
after an untimed warm-up epoch). Prints every round, then the medians over the rounds and the
median of the rounds' ratios, with the load average.

    swift build -c release --package-path Examples --product digits
    $VENV/bin/python Benchmarks/peers/digits_rounds.py --threads 2 --rounds 5
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--digits", default=os.path.join(ROOT, "Examples", ".build", "release",
                                                         "digits"),
                        help="the built digits example")
    args = parser.parse_args()
    threads = str(args.threads)
    contenders = [
        ("ours", [args.digits, "--model", "residual", "--threads", threads]),
        ("torch", [sys.executable, os.path.join(HERE, "digits_torch.py"), "--model", "residual",
                   "--threads", threads]),
    ]
    times = {name: [] for name, _ in contenders}
    loads = []
    for r in range(args.rounds):
        for name, command in contenders[r % 2:] + contenders[:r % 2]:
            times[name].append(median_epoch_ms(command))
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1}: ours {times['ours'][-1]:.1f} ms, torch {times['torch'][-1]:.1f} ms"
              f" per epoch, load {loads[-1]:.1f}", flush=True)
    ratios = [t / o for o, t in zip(times["ours"], times["torch"])]
    print(f"{threads} thread(s), {args.rounds} rounds: ours {statistics.median(times['ours']):.1f}"
          f" ms, torch {statistics.median(times['torch']):.1f} ms per epoch (medians); torch/ours"
          f" {statistics.median(ratios):.2f} (median of the rounds), load average"
          f" {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
