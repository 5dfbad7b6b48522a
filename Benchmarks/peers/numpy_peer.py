#!/usr/bin/env python3
"""numpy peer: the spiral fit and the MLP training step, written out by hand in numpy.

Prints one JSON line per measurement (see README.md). Run `python numpy_peer.py --help`.
"""
import os
import sys

import common

# OpenBLAS reads its thread count when it is loaded: set it before numpy is imported.
common.set_thread_env(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"))
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on this machine for an older OpenBLAS) make the
# OpenBLAS bundled with numpy pick a slower kernel; drop them unless asked to keep them.
if "--keep-openblas-env" not in sys.argv:
    for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(_var, None)


def _keep_freed_memory():
    """glibc malloc hands numpy's multi-MB temporaries (gradients, lr*v, activations) back to
    the kernel when they are freed, so every step page-faults them in again (about 1.5 s of
    system time per 100 MLP steps at batch 256 here). Keep freed memory in the heap instead:
    no mmap below 32 MB (the largest threshold glibc accepts), never trim the heap top.
    The numpy code is unchanged; --plain-malloc leaves glibc's defaults."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return "default (no glibc)"
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    ok &= libc.mallopt(m_trim_threshold, 1 << 30)
    return "kept" if ok else "default (mallopt failed)"


_MALLOC = "default" if "--plain-malloc" in sys.argv else _keep_freed_memory()

import time  # noqa: E402

import numpy as np  # noqa: E402

emit = common.Emitter("numpy")


# ---------------------------------------------------------------------------------------------
# Data and model

def init_params(sizes, rng):
    """He-normal W [in, out] (N(0, 2/in)), zero b, for Linear layers sizes[0] -> sizes[1] -> ..."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = np.zeros(fan_out, dtype=np.float32)
        params.append([w, b])
    return params


def forward(params, x):
    """Linear -> ReLU -> ... -> Linear. Returns the logits and the activations backward needs
    (the input of every Linear, and the pre-activation of every ReLU)."""
    inputs, pre = [], []
    h = x
    last = len(params) - 1
    for i, (w, b) in enumerate(params):
        inputs.append(h)
        z = h @ w + b
        if i < last:
            pre.append(z)
            h = np.maximum(z, 0)
        else:
            h = z
    return h, inputs, pre


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy over the batch and dLoss/dLogits."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0]) - shifted[rows, labels]))
    grad = e / s
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad


def backward(params, inputs, pre, dlogits):
    """Gradients [[dW, db], ...]. dx of the first layer is not computed (nothing needs it)."""
    grads = [None] * len(params)
    dy = dlogits
    for i in range(len(params) - 1, -1, -1):
        w, _ = params[i]
        grads[i] = [inputs[i].T @ dy, dy.sum(axis=0)]
        if i > 0:
            dx = dy @ w.T
            dy = dx * (pre[i - 1] > 0)
    return grads


def each_parameter(params, grads, *states):
    """(p, g, s1, s2, ...) for every parameter, with its gradient and its optimizer buffers."""
    for layers in zip(params, grads, *states):
        yield from zip(*layers)


def sgd_step(params, grads, velocities, lr, momentum, weight_decay=0.0):
    """torch.optim.SGD (dampening 0, no Nesterov): v = m*v + (g + wd*p); p -= lr*v."""
    for p, g, v in each_parameter(params, grads, velocities):
        if weight_decay != 0:
            g += weight_decay * p
        v *= momentum
        v += g
        p -= lr * v


def adam_step(params, grads, state, lr, beta1, beta2, eps):
    """torch.optim.Adam (no weight decay, not amsgrad), state {"t": steps taken, "m", "v"}:
    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps), t counting this step."""
    state["t"] += 1
    step_size = lr / (1 - beta1 ** state["t"])
    root_correction = np.sqrt(1 - beta2 ** state["t"])
    for p, g, m, v in each_parameter(params, grads, state["m"], state["v"]):
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        p -= step_size * m / (np.sqrt(v) / root_correction + eps)


def rmsprop_step(params, grads, squares, lr, alpha, eps):
    """torch.optim.RMSprop (no momentum, not centered): s = a*s + (1-a)*g^2;
    p -= lr * g / (sqrt(s) + eps)."""
    for p, g, s in each_parameter(params, grads, squares):
        s *= alpha
        s += (1 - alpha) * g * g
        p -= lr * g / (np.sqrt(s) + eps)


def zeros_like_params(params):
    return [[np.zeros_like(p) for p in layer] for layer in params]


def adam_state(params):
    return {"t": 0, "m": zeros_like_params(params), "v": zeros_like_params(params)}


# --optimizer -> (step, its state for given parameters)
MLP_STEPS = {"sgd": (sgd_step, zeros_like_params), "adam": (adam_step, adam_state),
             "rmsprop": (rmsprop_step, zeros_like_params)}


def train_step(params, state, x, y, optimizer_step):
    """Forward, loss, backward, then optimizer_step(params, grads, state). Returns the loss."""
    logits, inputs, pre = forward(params, x)
    loss, dlogits = softmax_cross_entropy(logits, y)
    grads = backward(params, inputs, pre, dlogits)
    optimizer_step(params, grads, state)
    return loss


# ---------------------------------------------------------------------------------------------
# Workloads

def spiral_step(params, grads, velocities):
    sgd_step(params, grads, velocities, lr=0.1, momentum=0.9, weight_decay=0.001)


def fit_spiral(params, x, y, epochs, batch, rng):
    velocities = zeros_like_params(params)
    n = x.shape[0]
    steps = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            train_step(params, velocities, x[idx], y[idx], spiral_step)
            steps += 1
    return steps


def accuracy(params, x, y):
    logits, _, _ = forward(params, x)
    return float(np.mean(logits.argmax(axis=1) == y))


def bench_spiral(args):
    x, y = common.spiral(np.int64)
    # Warm-up: one epoch on throw-away parameters (page faults, BLAS thread start-up).
    fit_spiral(init_params([2, 100, 3], np.random.default_rng(99)), x, y, 1, 20,
               np.random.default_rng(98))
    for rep in range(args.repeats):
        params = init_params([2, 100, 3], np.random.default_rng(1 + rep))
        rng = np.random.default_rng(2 + rep)
        t0 = time.perf_counter()
        steps = fit_spiral(params, x, y, args.epochs, 20, rng)
        seconds = time.perf_counter() - t0
        emit.spiral("eager", seconds, steps, accuracy(params, x, y))


def bench_mlp(args, batch):
    optimizer_step, optimizer_state = MLP_STEPS[args.optimizer]
    hyper_parameters = common.MLP_OPTIMIZERS[args.optimizer]
    rng = np.random.default_rng(0)
    params = init_params([784, 1024, 1024, 10], rng)
    state = optimizer_state(params)
    pool = common.mlp_batches(rng, batch)

    def update(params, grads, state):
        optimizer_step(params, grads, state, **hyper_parameters)

    def step(x, y):
        return train_step(params, state, x, y, update)

    common.bench_mlp(args, emit, batch, pool, step)


# ---------------------------------------------------------------------------------------------

def main():
    parser = common.make_parser(
        __doc__, "OpenBLAS threads (set in the environment before numpy loads)")
    parser.add_argument("--plain-malloc", action="store_true",
                        help="leave glibc malloc's defaults (freed big arrays go back to the "
                             "kernel and are page-faulted in again every step)")
    parser.add_argument("--keep-openblas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE if set")
    args = common.parse_args(parser)

    try:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            emit.extra["blas"] = "%s %s %s threads=%s" % (
                blas[0].get("internal_api"), blas[0].get("version"),
                blas[0].get("architecture"), blas[0].get("num_threads"))
    except ImportError:
        pass
    emit.extra["threads"] = args.threads
    emit.extra["malloc"] = _MALLOC
    common.run(args, emit, bench_spiral, bench_mlp)


if __name__ == "__main__":
    main()
