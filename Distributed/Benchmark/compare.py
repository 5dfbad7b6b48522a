"""Data-parallel speed: 2 ranks x 1 thread against 1 rank x 2 threads, interleaved.

Runs Distributed/.build/release/mpi-bench (build it first: swift build -c release
--package-path Distributed) for each workload, alternating the two configurations for ROUNDS
rounds, and prints a Markdown table of the medians over the rounds of each run's figures
(its mean time per step; the medians over its steps of the step, compute, wait and exchange,
and in parentheses the shortest), with the CPU and the load average before and after.

    python3 Distributed/Benchmark/compare.py [--rounds 7] [--steps 50] [--allow-run-as-root]

2 ranks are bound one to a core (--bind-to core); 1 rank is left unbound (--bind-to none) so
that its 2 threads use both cores.
"""
import argparse
import json
import os
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
EXECUTABLE = os.path.join(HERE, "..", ".build", "release", "mpi-bench")
# (workload, global batch)
WORKLOADS = [("mlp", 256), ("cnn", 32), ("cnn", 256)]
# (ranks, threads per rank, binding)
CONFIGURATIONS = [(2, 1, "core"), (1, 2, "none")]
# Each column: the median over the rounds of (the run's median, the run's shortest), or of
# the run's mean.
COLUMNS = [("mean step", "ms_per_step", None), ("step", "step_ms", "best_step_ms"),
           ("compute", "compute_ms", "best_compute_ms"), ("wait", "wait_ms", None),
           ("exchange", "exchange_ms", "best_exchange_ms")]


def cpu_name():
    """The first processor's model name, family and model (KVM may hide the name's details)."""
    fields = {}
    with open("/proc/cpuinfo") as info:
        for line in info:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return (f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family')}, "
            f"model {fields.get('model')})")


def load():
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def run(workload, batch, ranks, threads, binding, steps, root):
    command = ["mpirun", "-np", str(ranks), "--bind-to", binding, "-x",
               f"OMP_NUM_THREADS={threads}"]
    if root:
        command.append("--allow-run-as-root")
    command += [EXECUTABLE, workload, "--batch-size", str(batch), "--steps", str(steps),
                "--threads", str(threads)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith("{")))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--allow-run-as-root", action="store_true")
    options = parser.parse_args()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} processors; load average (1/5/15 min) "
          f"before: {load()}")
    print(f"{options.rounds} rounds, each configuration in turn; {options.steps} timed steps "
          "a run; medians over the rounds of each run's median over its steps (and of its "
          "shortest), ms\n")
    print("| model | global batch | ranks x threads | "
          + " | ".join(name if best is None else f"{name} (shortest)"
                       for name, _, best in COLUMNS) + " |")
    print("|---|---|---|" + "---|" * len(COLUMNS))
    for workload, batch in WORKLOADS:
        results = {configuration: [] for configuration in CONFIGURATIONS}
        for _ in range(options.rounds):
            for configuration in CONFIGURATIONS:
                ranks, threads, binding = configuration
                results[configuration].append(run(workload, batch, ranks, threads, binding,
                                                  options.steps, options.allow_run_as_root))
        name = "MLP 784-1024-1024-10" if workload == "mlp" else "digits CNN"
        for (ranks, threads, _), runs in results.items():
            def cell(field, best):
                text = f"{statistics.median(run[field] for run in runs):.3f}"
                if best is not None:
                    text += f" ({statistics.median(run[best] for run in runs):.3f})"
                return text
            print(f"| {name} | {batch} | {ranks} x {threads} | "
                  + " | ".join(cell(field, best) for _, field, best in COLUMNS) + " |")
    print(f"\nload average after: {load()}")


if __name__ == "__main__":
    main()
