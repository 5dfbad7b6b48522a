"""What the peer scripts (numpy_peer.py, jax_peer.py, torch_peer.py, operations_jax.py) share:
reading --threads before the numeric library loads (and limiting JAX's threads), the spiral
data, the MLP's data, the command line, the JSON lines, running the chosen workloads, and the
`operations` peers' loop.

Nothing here imports numpy at module level (spiral() and mlp_batches() import it when called),
so a peer can import this module and call threads_from_argv() / set_thread_env() /
limit_jax_threads() before numpy, and with it OpenBLAS, or jax is loaded.
"""
import argparse
import json
import os
import re
import sys
import time


# ---------------------------------------------------------------------------------------------
# Before the numeric library loads

def threads_from_argv(argv=None):
    """The --threads value as given on the command line (a string; "2" if absent), read before
    argparse runs: thread pools (OpenBLAS, OpenMP, XLA) size themselves when they load."""
    argv = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "2"


def set_thread_env(names, argv=None):
    """Sets each environment variable in names to the --threads value; returns that value."""
    threads = threads_from_argv(argv)
    for name in names:
        os.environ[name] = threads
    return threads


def limit_jax_threads(argv=None):
    """Sets the thread count of JAX from --threads; call it before jax loads. XLA:CPU sizes its
    intra-op thread pool from the CPUs this process may run on (sched_getaffinity), so fewer
    threads than CPUs = a smaller affinity mask (the first N CPUs). With one thread Eigen's
    multi-threading is switched off too. Sets JAX_PLATFORMS=cpu unless set. Returns the
    thread count."""
    threads = int(threads_from_argv(argv))
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    return threads


# ---------------------------------------------------------------------------------------------
# Data

def spiral(label_dtype, points_per_class=100, classes=3, noise=0.2, seed=0):
    """Point i of arm j: r = i/(n-1), t = 4(j + r) + noise*N(0,1), at (r sin t, r cos t).
    numpy arrays: x float32 [n, 2], y label_dtype [n]."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = np.zeros((points_per_class * classes, 2), dtype=np.float32)
    y = np.zeros(points_per_class * classes, dtype=label_dtype)
    r = np.linspace(0.0, 1.0, points_per_class)
    for j in range(classes):
        t = 4 * (j + r) + noise * rng.standard_normal(points_per_class)
        rows = slice(j * points_per_class, (j + 1) * points_per_class)
        x[rows, 0] = r * np.sin(t)
        x[rows, 1] = r * np.cos(t)
        y[rows] = j
    return x, y


# torch.optim.Adam's default betas and eps, which every Adam here trains with (the MLP's and
# the digits networks').
ADAM_DEFAULTS = dict(beta1=0.9, beta2=0.999, eps=1e-8)

# The MLP's optimizers (--optimizer) and their hyper-parameters, the same in every library:
# SGD as the spiral example trains, Adam and RMSprop with PyTorch's defaults (plain RMSprop: no
# momentum, not centered). No weight decay.
MLP_OPTIMIZERS = {
    "sgd": dict(lr=0.01, momentum=0.9),
    "adam": dict(lr=1e-3, **ADAM_DEFAULTS),
    "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8),
}


def mlp_batches(rng, batch, count=4):
    """The MLP's data: count pairs (x float32 [batch, 784] ~ N(0, 1), y int64 [batch] uniform in
    0..9), drawn from the numpy Generator rng in this order."""
    import numpy as np
    return [(rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch))
            for _ in range(count)]


# The digits example's data, and its two networks' default epochs and learning rates.
DIGITS_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Examples",
                           "Sources", "DigitsExperiment", "data", "digits.csv.gz")
DIGITS_DEFAULTS = {"cnn": (30, 1e-3), "residual": (10, 3e-3)}


def digits_split(path, split_seed=0, test_fraction=0.2):
    """The digits example's split: (x_train, y_train, x_test, y_test), numpy arrays, x float32
    [N, 1, 8, 8] (pixels / 16), y int64. Per digit, round(0.2 n) images drawn by a numpy
    Generator go to the test set (1438 training and 359 test images, as the Swift example;
    the images drawn differ)."""
    import gzip
    import numpy as np
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = (table[:, :64] / 16).reshape(-1, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    rng = np.random.default_rng(split_seed)
    is_test = np.zeros(len(y), dtype=bool)
    for digit in range(10):
        indices = np.flatnonzero(y == digit)
        is_test[rng.permutation(indices)[:int(round(len(indices) * test_fraction))]] = True
    return tuple(np.ascontiguousarray(a)
                 for a in (x[~is_test], y[~is_test], x[is_test], y[is_test]))


def digits_parser(description, threads_help):
    """The options of the digits peers (digits_torch.py, digits_jax.py); parse_digits_args
    fills in the network's defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=2, help=threads_help)
    parser.add_argument("--data", default=DIGITS_DATA, help="the gzip-compressed CSV")
    parser.add_argument("--model", choices=sorted(DIGITS_DEFAULTS), default="cnn")
    parser.add_argument("--epochs", type=int, help="default: cnn 30, residual 10")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, help="default: cnn 1e-3, residual 3e-3")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat")
    parser.add_argument("--repeats", type=int, default=1, help="timed trainings")
    return parser


def parse_digits_args(parser):
    """Parses; sets the network's default epochs and learning rate where not given, and
    args.workload ("digits" or "digits-residual")."""
    args = parser.parse_args()
    default_epochs, default_rate = DIGITS_DEFAULTS[args.model]
    args.epochs = args.epochs or default_epochs
    args.learning_rate = args.learning_rate or default_rate
    args.workload = "digits" if args.model == "cnn" else "digits-" + args.model
    return args


def emit_digits(emit, args, form, seconds, steps, epoch_seconds, train, test, accuracy):
    """The JSON line of one timed digits training."""
    emit(workload=args.workload, form=form, seconds=seconds, epochs=args.epochs, steps=steps,
         us_per_step=seconds / steps * 1e6,
         median_epoch_ms=sorted(epoch_seconds)[len(epoch_seconds) // 2] * 1e3,
         train=train, test=test, accuracy=accuracy)


# ---------------------------------------------------------------------------------------------
# Command line

def make_parser(description, threads_help):
    """The options every peer takes; a peer adds its own and calls parse_args()."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=2, help=threads_help)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--workloads", default="spiral,mlp", help="comma-separated: spiral,mlp")
    parser.add_argument("--batches", default="256,32", help="MLP batch sizes")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per workload")
    parser.add_argument("--mlp-steps", type=int, default=0,
                        help="timed MLP steps (default 50 at batch >= 128, else 200)")
    parser.add_argument("--warmup", type=int, default=5, help="MLP warm-up steps")
    parser.add_argument("--optimizer", default="sgd", choices=sorted(MLP_OPTIMIZERS),
                        help="the MLP's optimizer (MLP_OPTIMIZERS; the spiral always trains "
                             "with SGD)")
    return parser


def parse_args(parser):
    """Parses; sets args.epochs (200) and, with --quick, 10 epochs, 2 warm-up steps and 20
    timed MLP steps unless --mlp-steps says otherwise."""
    args = parser.parse_args()
    args.epochs = 200
    if args.quick:
        args.epochs, args.warmup = 10, 2
        args.mlp_steps = args.mlp_steps or 20
    return args


def mlp_steps(args, batch):
    """Timed MLP steps: --mlp-steps, else 50 at batch >= 128 and 200 below."""
    return args.mlp_steps if args.mlp_steps else (50 if batch >= 128 else 200)


# ---------------------------------------------------------------------------------------------
# Output and running

class Emitter:
    """Prints one JSON line per measurement: {"library": ...}, the measurement's fields, then
    the fields in .extra (threads, versions, ...: the same on every line)."""

    def __init__(self, library):
        self.library = library
        self.extra = {}

    def __call__(self, **fields):
        record = {"library": self.library}
        record.update(fields)
        record.update(self.extra)
        print(json.dumps(record), flush=True)

    def spiral(self, form, seconds, steps, accuracy):
        self(workload="spiral", form=form, seconds=seconds, steps=steps,
             us_per_step=seconds / steps * 1e6, accuracy=accuracy)

    def mlp(self, batch, steps, seconds, loss, optimizer, form=None):
        """One MLP measurement; the records of an optimizer other than SGD name it, those of a
        library with several forms (JAX's jit_step and scan) the form."""
        named = {} if optimizer == "sgd" else {"optimizer": optimizer}
        if form is not None:
            named["form"] = form
        self(workload="mlp", batch=batch, steps=steps, seconds=seconds,
             samples_per_second=batch * steps / seconds, us_per_step=seconds / steps * 1e6,
             loss=loss, **named)


def bench_mlp(args, emit, batch, pool, step, sync=None, form=None):
    """The MLP benchmark's loop: args.warmup untimed steps, then args.repeats times
    mlp_steps(args, batch) timed steps back to back, one JSON line each time. step(x, y) does
    one training step and returns the loss; step i uses pool[i % len(pool)]. sync(), if given,
    runs after the warm-up and before the clock stops (JAX blocks on its results there). form,
    if given, names the form in the lines."""
    for i in range(args.warmup):
        step(*pool[i % len(pool)])
    if sync is not None:
        sync()
    steps = mlp_steps(args, batch)
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for i in range(steps):
            x, y = pool[i % len(pool)]
            loss = step(x, y)
        if sync is not None:
            sync()
        seconds = time.perf_counter() - t0
        # .item() for a torch tensor (float() of one that requires grad warns), a JAX array or
        # a numpy scalar; float() for a Python number.
        emit.mlp(batch, steps, seconds, loss.item() if hasattr(loss, "item") else float(loss),
                 args.optimizer, form)


def answer_operations(make_pass, set_threads, finish=None):
    """The loop of the `operations` benchmark's peers (operations_torch.py, operations_jax.py):
    reads lines "<case> <threads> <iterations>" on standard input and answers each with the
    seconds one pass took, the mean of `iterations` passes after one untimed pass.
    set_threads(threads) runs first; make_pass(case) makes a case's pass, once; finish, if
    given, is called with each pass's result before the next (JAX blocks on it there)."""
    passes = {}
    for line in sys.stdin:
        fields = line.split()
        if not fields:
            continue
        case, threads, iterations = fields[0], int(fields[1]), int(fields[2])
        set_threads(threads)
        if case not in passes:
            passes[case] = make_pass(case)
        run, done = passes[case], finish or (lambda result: None)
        done(run())
        start = time.perf_counter()
        for _ in range(iterations):
            done(run())
        print((time.perf_counter() - start) / iterations, flush=True)


def power_exponent(operation):
    """The exponent p of an `operations` case pow<p> (pow2, pow3, pow0.5, pow-1), an int when
    it is whole (JAX multiplies out an int power, lax.integer_pow, but not a float); None for
    another operation."""
    if not operation.startswith("pow"):
        return None
    try:
        exponent = float(operation[3:])
    except ValueError:
        return None
    return int(exponent) if exponent.is_integer() else exponent


def convolution_form(operation):
    """The (kernel, stride, padding) of an `operations` convolution case: conv is 3x3 at
    stride 1, conv<k> k x k at stride 1 and conv<k>s<s> at stride s (conv1, conv3s2, conv7s2),
    each padded by k // 2; None for another operation."""
    match = re.fullmatch(r"conv(?:(\d+)(?:s(\d+))?)?", operation)
    if match is None:
        return None
    kernel = int(match.group(1) or 3)
    return kernel, int(match.group(2) or 1), kernel // 2


def run(args, emit, bench_spiral, bench_mlp):
    """Adds "quick" to every line with --quick, then runs the chosen workloads:
    bench_spiral(args), and bench_mlp(args, batch) for each batch size."""
    if args.quick:
        emit.extra["quick"] = True
    workloads = args.workloads.split(",")
    if "spiral" in workloads:
        bench_spiral(args)
    if "mlp" in workloads:
        for batch in (int(b) for b in args.batches.split(",")):
            bench_mlp(args, batch)
