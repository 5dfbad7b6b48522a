#!/usr/bin/env python3
"""PyTorch peer (eager, CPU): the spiral fit and the MLP training step with torch.nn.Linear
layers, F.cross_entropy and torch.optim's SGD, Adam or RMSprop.

Prints one JSON line per measurement (see README.md). Run `python torch_peer.py --help`.
"""
import common

# torch.set_num_threads below is what counts; the variables keep any OpenMP/MKL runtime that
# starts before it from sizing its pool to all CPUs.
common.set_thread_env(("OMP_NUM_THREADS", "MKL_NUM_THREADS"))

import re  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

emit = common.Emitter("torch")


# ---------------------------------------------------------------------------------------------
# Data and model

def make_model(sizes, seed):
    """Linear -> ReLU -> ... -> Linear, He-normal weights (N(0, 2/in)), zero biases.
    (nn.Linear stores W as [out, in] and computes x @ W.T + b; same math.)"""
    torch.manual_seed(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.kaiming_normal_(linear.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)       # mean softmax cross-entropy
    loss.backward()
    optimizer.step()
    return loss


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


# ---------------------------------------------------------------------------------------------
# Workloads

def fit_spiral(model, x, y, epochs, batch, generator):
    # torch.optim.SGD: v = m*v + (g + wd*p); p -= lr*v (dampening 0, no Nesterov).
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.001)
    n = x.shape[0]
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            train_step(model, optimizer, x[idx], y[idx])
            steps += 1
    return steps


def bench_spiral(args):
    x, y = (torch.from_numpy(a) for a in common.spiral(np.int64))
    fit_spiral(make_model([2, 100, 3], 99), x, y, 1, 20,
               torch.Generator().manual_seed(98))                       # warm-up
    for rep in range(args.repeats):
        model = make_model([2, 100, 3], 1 + rep)
        generator = torch.Generator().manual_seed(2 + rep)
        t0 = time.perf_counter()
        steps = fit_spiral(model, x, y, args.epochs, 20, generator)
        seconds = time.perf_counter() - t0
        emit.spiral("eager", seconds, steps, accuracy(model, x, y))


def mlp_optimizer(name, parameters, fused):
    """torch.optim's form of common.MLP_OPTIMIZERS[name]. fused=True: one kernel updates every
    parameter (PyTorch's fastest SGD and Adam on the CPU; it has no fused RMSprop)."""
    h = common.MLP_OPTIMIZERS[name]
    fused = True if fused else None
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=h["lr"], momentum=h["momentum"], fused=fused)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                                eps=h["eps"], fused=fused)
    return torch.optim.RMSprop(parameters, lr=h["lr"], alpha=h["alpha"], eps=h["eps"])


def bench_mlp(args, batch):
    model = make_model([784, 1024, 1024, 10], 0)
    optimizer = mlp_optimizer(args.optimizer, model.parameters(), args.fused)
    pool = [(torch.from_numpy(x), torch.from_numpy(y))
            for x, y in common.mlp_batches(np.random.default_rng(0), batch)]

    def step(x, y):
        return train_step(model, optimizer, x, y)

    common.bench_mlp(args, emit, batch, pool, step)


# ---------------------------------------------------------------------------------------------

def main():
    parser = common.make_parser(__doc__, "torch.set_num_threads")
    parser.add_argument("--fused", action="store_true",
                        help="the MLP's SGD or Adam with fused=True (there is no fused RMSprop)")
    args = common.parse_args(parser)
    if args.fused and args.optimizer == "rmsprop":
        parser.error("--fused: PyTorch has no fused RMSprop")
    torch.set_num_threads(args.threads)
    emit.extra["threads"] = torch.get_num_threads()
    emit.extra["torch"] = torch.__version__
    emit.extra["mlp_fused"] = args.fused         # the MLP's optimizer; the spiral's is never fused
    # The BLAS behind torch.mm on the CPU, as the build reports it ("BLAS_INFO=mkl").
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    emit.extra["blas"] = "%s%s" % (blas.group(1) if blas else "unknown",
                                   ", MKL available" if torch.backends.mkl.is_available() else "")
    common.run(args, emit, bench_spiral, bench_mlp)


if __name__ == "__main__":
    main()
