#!/usr/bin/env python3
"""Runs DeepLearning's training benchmark (Benchmarks/.build/release/training, built first) and
the peer benchmarks in rotation, each run in its own process, and prints a table of medians
(min-max) per library and workload, with DeepLearning's speed relative to every row.

    python run_peers.py                                  # DeepLearning, numpy, jax, torch; 5 rounds
    python run_peers.py --rounds 3 --peers numpy,jax
    python run_peers.py --optimizer adam --peer-args '--workloads mlp'
    python run_peers.py --no-ours --peers numpy,torch    # the peers only, nothing built
    python run_peers.py --extra 'other=/path/to/binary --threads {threads} {quick}'

Every process prints JSON lines (one per measurement, see README.md); anything else it prints
is ignored. An --extra command is run as given (split like a shell would, no shell), after
replacing {threads} with --threads, {optimizer} with --optimizer (sgd, adam or rmsprop) and
{quick} with "--quick" or nothing; its lines are labelled with the name before '='.
"""
import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = os.path.dirname(HERE)                  # <repo>/Benchmarks, a Swift package
OURS = "DeepLearning"
OURS_BINARY = os.path.join(BENCHMARKS, ".build", "release", "training")
OURS_BUILD = ["swift", "build", "-c", "release", "--package-path", BENCHMARKS,
              "--product", "training"]
# name -> (script, extra arguments). numpy-plain: numpy with glibc malloc's defaults (see
# README.md); not in the default rotation.
BUILTIN = {"numpy": ("numpy_peer.py", []), "numpy-plain": ("numpy_peer.py", ["--plain-malloc"]),
           "jax": ("jax_peer.py", []), "torch": ("torch_peer.py", []),
           "torch-fused": ("torch_peer.py", ["--fused"])}


def cpu_busy_seconds():
    """Seconds of CPU time all CPUs spent not idle (incl. steal), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)      # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_ours(wait):
    """Builds the training benchmark (OURS_BUILD). A build that fails because another SwiftPM
    holds the package's lock (someone else building it) is retried for up to wait seconds.
    Returns None or an error text."""
    deadline = time.monotonic() + wait
    print("building %s: %s" % (OURS, " ".join(shlex.quote(a) for a in OURS_BUILD)),
          file=sys.stderr, flush=True)
    while True:
        try:
            proc = subprocess.run(OURS_BUILD, capture_output=True, text=True)
        except OSError as error:
            return str(error)
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode == 0:
            done = proc.stdout.strip().splitlines()[-1:] or ["built"]
            waited = " (after waiting for another build)" if "Another instance" in output else ""
            print("  " + done[0] + waited, file=sys.stderr, flush=True)
            return None
        locked = any(text in output for text in
                     ("Another instance of SwiftPM", "lock file", "could not acquire lock"))
        if locked and time.monotonic() < deadline:
            print("  the package is locked by another build; retrying in 15 s",
                  file=sys.stderr, flush=True)
            time.sleep(15)
            continue
        return "exit status %d\n%s" % (proc.returncode, "\n".join(output.splitlines()[-30:]))


def run_one(label, argv, env, timeout):
    """Runs one peer process. Returns (records, others, error): its JSON records, the mean
    number of cores other processes kept busy meanwhile, and an error text or None."""
    busy0, child0, t0 = cpu_busy_seconds(), children_cpu_seconds(), time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], None, "timed out after %s s" % timeout
    except OSError as error:
        return [], None, str(error)
    wall = time.monotonic() - t0
    busy1, child1 = cpu_busy_seconds(), children_cpu_seconds()
    others = None
    if busy0 is not None and wall > 0:
        others = max(0.0, ((busy1 - busy0) - (child1 - child0)) / wall)
    records = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "workload" in record:
            records.append(record)
    error = None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        error = "exit status %d\n%s" % (proc.returncode, tail)
    elif not records:
        error = "printed no JSON records\n" + "\n".join(proc.stderr.strip().splitlines()[-15:])
    return records, others, error


def case_of(record):
    """A row's case: the MLP's batch, then its form if it has one ("batch 256 scan"); the
    spiral's form."""
    if "batch" in record:
        return "batch %s%s" % (record["batch"], " %s" % record["form"] if "form" in record else "")
    return str(record.get("form", ""))


def form_in(case):
    """The form in a row's case ("scan" in "batch 256 scan" or in "scan"; "" for none)."""
    words = case.split()
    return " ".join(words[2:]) if words[:1] == ["batch"] else case


def fmt(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return "%.*f" % (digits, med)
    return "%.*f (%.*f-%.*f)" % (digits, med, digits, min(values), digits, max(values))


def speed(rows_records):
    """(kind, median) of a row: ("seconds", median seconds) for the spiral (lower is faster),
    ("samples/s", median samples per second) for the MLP (higher is faster); None if absent."""
    if any("samples_per_second" in r for r in rows_records):
        values = [r["samples_per_second"] for r in rows_records if r.get("samples_per_second")]
        return ("samples/s", statistics.median(values)) if values else None
    values = [r["seconds"] for r in rows_records if r.get("seconds")]
    return ("seconds", statistics.median(values)) if values else None


def ours_ratio(row, reference):
    """How many times faster `reference` (DeepLearning's row) is than `row`: seconds of the row /
    seconds of DeepLearning, or samples/s of DeepLearning / samples/s of the row."""
    if row is None or reference is None or row[0] != reference[0]:
        return None
    return row[1] / reference[1] if row[0] == "seconds" else reference[1] / row[1]


def fmt_ratios(ratios):
    """The median ratio, and the range where there are several: "1.20x (1.11-1.25)"."""
    if not ratios:
        return "-"
    text = "%.2fx" % statistics.median(ratios)
    return text if len(ratios) == 1 else "%s (%.2f-%.2f)" % (text, min(ratios), max(ratios))


def paired_ratios(ours_records, row_records):
    """DeepLearning's speed over the row's, round by round (the same ratio as ours_ratio, from
    the two processes of one round, which ran one after the other): a slow stretch of the
    machine that lasts a round slows both sides of its ratio."""
    def by_round(records):
        rounds = {}
        for r in records:
            rounds.setdefault(r["round"], []).append(r)
        return {rnd: speed(rs) for rnd, rs in rounds.items()}
    ours, row = by_round(ours_records), by_round(row_records)
    ratios = [ours_ratio(row[rnd], ours[rnd]) for rnd in sorted(ours) if rnd in row]
    return [r for r in ratios if r is not None]


def faster(a, b):
    """Whether speed a is faster than speed b (both from speed(), of the same kind)."""
    ratio = ours_ratio(b, a)
    return ratio is not None and ratio > 1


def comparable(key, rows_records):
    """Rows that DeepLearning's ratio compares: the same workload and, for the MLP, the same
    batch (the spiral's forms, e.g. JAX's jit_step and scan, all compare with DeepLearning's)."""
    batch = rows_records[0].get("batch") if any("samples_per_second" in r for r in rows_records) \
        else None
    return (key[1], batch)


def table(records, order):
    """Rows: (library, workload, case); medians over all records of the row. With DeepLearning
    among the records, a column with its speed relative to each row, and after the table, per
    workload (and batch), the fastest other row and DeepLearning's ratio to it."""
    groups = {}
    for r in records:
        key = (r["label"], r["workload"], case_of(r))
        groups.setdefault(key, []).append(r)

    def sort_key(key):
        label, workload, case = key
        rank = order.index(label) if label in order else len(order)
        batch = -int(case.split()[1]) if case.startswith("batch ") and case.split()[1].isdigit() else 0
        return (0 if workload == "spiral" else 1, workload, batch, rank, case)

    # DeepLearning's fastest row per comparable group is the reference of that group.
    speeds = {key: speed(rs) for key, rs in groups.items()}
    references = {}
    for key, rs in groups.items():
        if key[0] != OURS or speeds[key] is None:
            continue
        group = comparable(key, rs)
        best = references.get(group)
        if best is None or faster(speeds[key], speeds[best]):
            references[group] = key
    with_ratio = bool(references)

    header = ["library", "workload", "case", "n", "seconds", "us/step", "samples/s",
              "accuracy", "others"] + (["DL vs row"] if with_ratio else [])
    rows = []
    fastest = {}                  # group -> key of the fastest row that is not DeepLearning's
    for key in sorted(groups, key=sort_key):
        rs = groups[key]
        is_mlp = any("samples_per_second" in r for r in rs)
        row = [
            key[0], key[1], key[2], str(len(rs)),
            "-" if is_mlp else fmt([r.get("seconds") for r in rs], 3),
            fmt([r.get("us_per_step") for r in rs], 1),
            fmt([r.get("samples_per_second") for r in rs], 0) if is_mlp else "-",
            fmt([r.get("accuracy") for r in rs], 3) if not is_mlp else "-",
            fmt([r.get("others") for r in rs], 2),
        ]
        group = comparable(key, rs)
        reference = references.get(group)
        if with_ratio:
            ratio = ours_ratio(speeds[key], speeds[reference]) if reference else None
            row.append("-" if ratio is None else "%.2fx" % ratio)
        if key[0] != OURS and speeds[key] is not None:
            best = fastest.get(group)
            if best is None or faster(speeds[key], speeds[best]):
                fastest[group] = key
        rows.append(row)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    if not with_ratio:
        return "\n".join(lines)

    lines.append("")
    lines.append("DL vs row = how many times faster %s is than that row, from the medians. "
                 "spiral: row seconds / %s seconds;" % (OURS, OURS))
    lines.append("mlp: %s samples/s / row samples/s, at the same batch. Above 1: %s is "
                 "faster, below 1: slower." % (OURS, OURS))
    lines.append("")
    lines.append("%s against the fastest peer form:" % OURS)
    for group in sorted(references, key=lambda g: (0 if g[0] == "spiral" else 1, g[0],
                                                   -(g[1] or 0))):
        ours = references[group]
        name = group[0] if group[1] is None else "%s batch %s" % group
        best = fastest.get(group)
        if best is None:
            lines.append("  %-15s no peer measured" % name)
            continue
        unit = speeds[best][0]
        digits = 4 if unit == "seconds" else 0
        ratio = ours_ratio(speeds[best], speeds[ours])
        form = " ".join(word for word in (best[0], form_in(best[2])) if word)
        paired = paired_ratios(groups[ours], groups[best])
        lines.append("  %-15s fastest peer: %s, %.*f %s; %s %.*f %s: %.2fx (%s); round by "
                     "round %s" % (
                         name, form, digits, speeds[best][1], unit, OURS, digits,
                         speeds[ours][1], unit, ratio, "faster" if ratio >= 1 else "slower",
                         fmt_ratios(paired)))
    lines.append("(round by round: the median (min-max) of the ratios of the two processes of "
                 "each round)")
    return "\n".join(lines)


def cpu_description():
    """The CPU as /proc/cpuinfo names it: model name, vendor, family, model and whether it has
    AVX-512 and AMX (the same CPU model name can hide different cores on these hosts, and a
    hypervisor can show another model number: AMX marks Intel's server cores)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return "unknown"
    flags = fields.get("flags", "").split()
    return "%s (%s family %s model %s, %s%s, %d processors)" % (
        fields.get("model name", "?"), fields.get("vendor_id", "?"), fields.get("cpu family", "?"),
        fields.get("model", "?"), "AVX-512" if "avx512f" in flags else "no AVX-512",
        ", AMX" if "amx_tile" in flags else "", os.cpu_count() or 0)


def blas_by_library(records):
    """Each library's BLAS, as its records report it ("blas"), in order of appearance."""
    found = {}
    for r in records:
        if r.get("blas"):
            found.setdefault(r["label"], r["blas"])
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", default="numpy,jax,torch,torch-fused",
                        help="comma-separated built-in Python peers (numpy, jax, torch, "
                             "torch-fused: the optimizer with fused=True, numpy-plain); '' for "
                             "none")
    parser.add_argument("--no-ours", action="store_true",
                        help="leave %s (the Swift training benchmark) out; nothing is built"
                             % OURS)
    parser.add_argument("--no-build", action="store_true",
                        help="do not build the Swift training benchmark first; run the binary "
                             "as it is (Benchmarks/.build/release/training)")
    parser.add_argument("--build-wait", type=float, default=600,
                        help="seconds to keep retrying the build while another SwiftPM holds "
                             "the package's lock")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=COMMAND",
                        help="another 'library': a command printing the same JSON lines "
                             "(repeatable)")
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam", "rmsprop"),
                        help="the MLP's optimizer in DeepLearning and the built-in peers "
                             "(torch-fused: fused SGD or Adam; PyTorch has no fused RMSprop)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="pass --quick to DeepLearning and the peers")
    parser.add_argument("--peer-args", default="",
                        help="more arguments for the built-in peers and %s, e.g. '--workloads "
                             "spiral'" % OURS)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the built-in peers (default: this one)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds to sleep before each process (lets spinning threads and "
                             "other load settle)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per process")
    parser.add_argument("--keep-openblas-env", action="store_true",
                        help="do not unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for numpy")
    parser.add_argument("--json-out", help="also write every record (JSON lines) to this file")
    args = parser.parse_args()

    contenders = []          # (label, argv, env)
    base_env = dict(os.environ)
    common_args = ["--optimizer", args.optimizer] + shlex.split(args.peer_args)
    if not args.no_ours:
        argv = [OURS_BINARY, "--threads", str(args.threads)] + common_args
        if args.quick:
            argv.append("--quick")
        contenders.append((OURS, argv, dict(base_env)))
    for name in [p for p in args.peers.split(",") if p]:
        if name == OURS:
            parser.error("%s is in the rotation unless --no-ours is given" % OURS)
        if name not in BUILTIN:
            parser.error("unknown peer %r (built-in: %s)" % (name, ", ".join(BUILTIN)))
        if name == "torch-fused" and args.optimizer == "rmsprop":
            parser.error("torch-fused with --optimizer rmsprop: PyTorch has no fused RMSprop "
                         "(the peer torch runs its RMSprop)")
        script, script_args = BUILTIN[name]
        argv = [args.python, "-B", os.path.join(HERE, script), "--threads", str(args.threads)]
        argv += script_args + common_args
        if args.quick:
            argv.append("--quick")
        env = dict(base_env)
        if name.startswith("numpy"):
            if args.keep_openblas_env:
                argv.append("--keep-openblas-env")
            else:
                env.pop("OPENBLAS_CORETYPE", None)
                env.pop("OPENBLAS_L2_SIZE", None)
        contenders.append((name, argv, env))
    for spec in args.extra:
        if "=" not in spec:
            parser.error("--extra wants NAME=COMMAND, got %r" % spec)
        name, command = spec.split("=", 1)
        command = command.replace("{threads}", str(args.threads))
        command = command.replace("{optimizer}", args.optimizer)
        command = command.replace("{quick}", "--quick" if args.quick else "")
        contenders.append((name.strip(), shlex.split(command), dict(base_env)))
    if not contenders:
        parser.error("nothing to run")
    labels = [c[0] for c in contenders]
    if len(set(labels)) != len(labels):
        parser.error("two contenders with the same name: %s" % ", ".join(labels))
    if not args.no_ours:
        if not args.no_build:
            error = build_ours(args.build_wait)
            if error is not None:
                print("building %s failed (--no-build runs the binary as it is, --no-ours "
                      "leaves it out): %s" % (OURS, error), file=sys.stderr)
                return 2
        elif not os.access(OURS_BINARY, os.X_OK):
            parser.error("--no-build, but %s is not built" % OURS_BINARY)

    order = [c[0] for c in contenders]
    all_records, failures = [], []
    out = open(args.json_out, "w") if args.json_out else None
    started = time.monotonic()
    for rnd in range(args.rounds):
        shift = rnd % len(contenders)
        for label, argv, env in contenders[shift:] + contenders[:shift]:
            time.sleep(args.pause)
            records, others, error = run_one(label, argv, env, args.timeout)
            others_text = "?" if others is None else "%.2f" % others
            print("round %d/%d  %-12s %2d records  others %s%s" % (
                rnd + 1, args.rounds, label, len(records), others_text,
                "" if error is None else "  FAILED: " + error.splitlines()[0]),
                file=sys.stderr, flush=True)
            if error is not None:
                failures.append((rnd + 1, label, error))
            for record in records:
                if "library" in record and record["library"] != label:
                    record["reported_library"] = record["library"]
                record["label"], record["round"], record["others"] = label, rnd + 1, others
                all_records.append(record)
                if out:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
    if out:
        out.close()

    print("threads %d, %d rounds%s, MLP optimizer %s, %.0f s; medians (min-max) over rounds; "
          "'others' = cores other processes kept busy during the run" % (
              args.threads, args.rounds, ", quick" if args.quick else "", args.optimizer,
              time.monotonic() - started))
    print("CPU: %s" % cpu_description())
    print(table(all_records, order))
    print("\nBLAS:")
    for label, blas in blas_by_library(all_records).items():
        print("  %-12s %s" % (label, blas))
    for rnd, label, error in failures:
        print("\nround %d, %s failed: %s" % (rnd, label, error))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
