#!/usr/bin/env python3
"""One operation or layer at a time, forward plus backward, ours (the `operations` benchmark)
against PyTorch eager (operations_torch.py) or JAX (operations_jax.py, --against jax) in
interleaved rounds: the processes stay up, and each round times each side once (the order
alternating), with as many passes as fill about --target seconds. Prints per case and thread
count each side's median time per pass, its spread over the rounds, the ratio of the medians
(ours / the peer's: below 1, ours is faster) and the median and range of the rounds' ratios,
then the load average.

    swift build -c release --package-path Benchmarks --product operations
    $VENV/bin/python Benchmarks/peers/operations_rounds.py --threads 1,2 exp:256x1024 sum:256x1024
    $VENV/bin/python Benchmarks/peers/operations_rounds.py --against jax exp:256x1024

The cases are listed in Benchmarks/Sources/operations/main.swift. JAX's thread pool is sized
when jax loads, so with --against jax one JAX process runs per thread count, each on as many
CPUs. --peer runs a second build of `operations` (an older commit's) in the peer's place, for
before and after.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(HERE, "..", ".build", "release", "operations")


def start(command):
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            bufsize=1)


def seconds_per_pass(process, case, threads, iterations):
    process.stdin.write("%s %d %d\n" % (case, threads, iterations))
    process.stdin.flush()
    answer = process.stdout.readline()
    if not answer:
        raise SystemExit("operations_rounds.py: %s stopped at case %s" % (process.args[0], case))
    return float(answer)


def spread(times):
    middle = statistics.median(times)
    return "%+.0f/%+.0f%%" % ((min(times) / middle - 1) * 100, (max(times) / middle - 1) * 100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="+", help="operation:sizes, e.g. exp:256x1024")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--target", type=float, default=0.06,
                        help="seconds each side runs a case in a round")
    parser.add_argument("--ours", default=OURS, help="the operations program")
    parser.add_argument("--against", choices=("torch", "jax"), default="torch",
                        help="the peer: PyTorch eager or JAX's jitted passes")
    parser.add_argument("--peer", help="a second operations program instead of --against")
    args = parser.parse_args()

    thread_counts = [int(t) for t in args.threads.split(",")]
    program = start([args.ours])
    if args.peer or args.against == "torch":
        peer = start([args.peer] if args.peer else
                     [sys.executable, os.path.join(HERE, "operations_torch.py")])
        peers = {threads: peer for threads in thread_counts}
    else:
        peers = {threads: start([sys.executable, os.path.join(HERE, "operations_jax.py"),
                                 "--threads", str(threads)]) for threads in thread_counts}
    print("ours against %s" % (args.peer or args.against))
    print("%-24s %3s %10s %10s %10s %10s %6s %6s %11s" % (
        "case", "thr", "ours us", "spread", "peer us", "spread", "ratio", "rounds", "range"))
    for case in args.cases:
        for threads in thread_counts:
            sides = (program, peers[threads])
            iterations = []
            for side in sides:
                seconds_per_pass(side, case, threads, 3)  # warm-up
                estimate = seconds_per_pass(side, case, threads, 3)
                iterations.append(max(1, int(args.target / estimate)))
            times = ([], [])
            for round_index in range(args.rounds):
                for index in ((0, 1) if round_index % 2 == 0 else (1, 0)):
                    times[index].append(
                        seconds_per_pass(sides[index], case, threads, iterations[index]))
            ours, peer = statistics.median(times[0]), statistics.median(times[1])
            ratios = [a / b for a, b in zip(*times)]
            print("%-24s %3d %10.1f %10s %10.1f %10s %6.2f %6.2f %5.2f-%5.2f" % (
                case, threads, ours * 1e6, spread(times[0]), peer * 1e6, spread(times[1]),
                ours / peer, statistics.median(ratios), min(ratios), max(ratios)), flush=True)
    print("load average: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
