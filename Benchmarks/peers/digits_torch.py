#!/usr/bin/env python3
"""PyTorch peer (eager, CPU) of the `digits` example: the same CNN, data and setup, timed.

Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2) -> Conv2d(16, 32, 3, padding=1) -> ReLU ->
Flatten -> Linear(512, 10), He-normal weights and zero biases (as DeepLearning's defaults),
F.cross_entropy, torch.optim.Adam(lr=1e-3), batch 32, 30 epochs, on a stratified 80/20 split of
the example's digits.csv.gz (20% of each digit, rounded: 1438 training and 359 test images, as the
Swift example; the images drawn differ). Pixels are divided by 16 and shaped [N, 1, 8, 8].

After one untimed warm-up epoch on a separate model, each repeat times the 30-epoch training
(shuffling, steps; no evaluation) and prints one JSON line:
{"library": "torch", "workload": "digits", "form": "eager", "seconds": ..., "epochs": 30,
 "steps": ..., "accuracy": <test accuracy>, "threads": ..., "torch": ...}.

    $VENV/bin/python Benchmarks/peers/digits_torch.py --threads 2 --repeats 3
"""
import argparse
import gzip
import os
import time

import common

common.set_thread_env(("OMP_NUM_THREADS", "MKL_NUM_THREADS"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

emit = common.Emitter("torch")
DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Examples",
                            "Sources", "DigitsExperiment", "data", "digits.csv.gz")


def load_split(path, split_seed=0, test_fraction=0.2):
    """(x_train, y_train, x_test, y_test) as torch tensors: per digit, round(0.2 n) images drawn
    by a numpy Generator go to the test set."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = (table[:, :64] / 16).reshape(-1, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    rng = np.random.default_rng(split_seed)
    is_test = np.zeros(len(y), dtype=bool)
    for digit in range(10):
        indices = np.flatnonzero(y == digit)
        is_test[rng.permutation(indices)[:int(round(len(indices) * test_fraction))]] = True
    return tuple(torch.from_numpy(np.ascontiguousarray(a))
                 for a in (x[~is_test], y[~is_test], x[is_test], y[is_test]))


def make_model(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 10))
    for layer in model:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return model


def fit(model, x, y, epochs, batch, lr, generator):
    """Adam, shuffled mini-batches; returns the number of steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n, steps = x.shape[0], 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
            steps += 1
    return steps


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--data", default=DEFAULT_DATA, help="the gzip-compressed CSV")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat")
    parser.add_argument("--repeats", type=int, default=1, help="timed trainings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    emit.extra.update(threads=torch.get_num_threads(), torch=torch.__version__)

    x_train, y_train, x_test, y_test = load_split(args.data)
    fit(make_model(99), x_train, y_train, 1, args.batch_size, args.learning_rate,
        torch.Generator().manual_seed(98))                                   # warm-up
    for rep in range(args.repeats):
        seed = args.seed + rep
        model = make_model(seed)
        generator = torch.Generator().manual_seed(seed + 1)
        t0 = time.perf_counter()
        steps = fit(model, x_train, y_train, args.epochs, args.batch_size, args.learning_rate,
                    generator)
        seconds = time.perf_counter() - t0
        emit(workload="digits", form="eager", seconds=seconds, epochs=args.epochs, steps=steps,
             us_per_step=seconds / steps * 1e6, train=len(y_train), test=len(y_test),
             accuracy=accuracy(model, x_test, y_test))


if __name__ == "__main__":
    main()
