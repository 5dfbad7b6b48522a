#!/usr/bin/env python3
"""PyTorch peer (eager, CPU) of the `digits` example: the same networks, data and setup, timed.

--model cnn (default): Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2) ->
Conv2d(16, 32, 3, padding=1) -> ReLU -> Flatten -> Linear(512, 10); Adam(lr=1e-3), 30 epochs.
--model residual: Conv2d(1, 16, 3, padding=1) -> BatchNorm2d -> ReLU -> 2 residual blocks
(relu(x + bn2(conv2(relu(bn1(conv1(x)))))), 16 channels, 3x3, padding 1) -> MaxPool2d(2) ->
Flatten -> Linear(256, 10); Adam(lr=3e-3), 10 epochs (the Swift example's ResidualBlock).
Both: He-normal weights and zero biases for convolutions and linear layers, BatchNorm weight 1 and
bias 0 (as DeepLearning's defaults), F.cross_entropy, batch 32, on a stratified 80/20 split of
the example's digits.csv.gz (20% of each digit, rounded: 1438 training and 359 test images, as the
Swift example; the images drawn differ). Pixels are divided by 16 and shaped [N, 1, 8, 8].

After one untimed warm-up epoch on a separate model, each repeat times the training (shuffling,
steps; no evaluation) and prints one JSON line:
{"library": "torch", "workload": "digits" or "digits-residual", "form": "eager", "seconds": ...,
 "epochs": ..., "steps": ..., "median_epoch_ms": <the median epoch>, "accuracy": <test
 accuracy>, "threads": ..., "torch": ...}.

    $VENV/bin/python Benchmarks/peers/digits_torch.py --threads 2 --repeats 3
    $VENV/bin/python Benchmarks/peers/digits_torch.py --model residual --threads 2 --repeats 3
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


class ResidualBlock(nn.Module):
    """relu(x + bn2(conv2(relu(bn1(conv1(x)))))): 3x3 convolutions keeping channels and size."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


# Per network: its default epochs and learning rate (the Swift example's).
DEFAULTS = {"cnn": (30, 1e-3), "residual": (10, 3e-3)}


def make_model(seed, name="cnn"):
    torch.manual_seed(seed)
    if name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 10))
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            ResidualBlock(16), ResidualBlock(16), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(256, 10))
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return model


def fit(model, x, y, epochs, batch, lr, generator):
    """Adam, shuffled mini-batches; returns the number of steps and each epoch's seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    n, steps, epoch_seconds = x.shape[0], 0, []
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
            steps += 1
        epoch_seconds.append(time.perf_counter() - epoch_start)
    return steps, epoch_seconds


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--data", default=DEFAULT_DATA, help="the gzip-compressed CSV")
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="cnn")
    parser.add_argument("--epochs", type=int, help="default: cnn 30, residual 10")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, help="default: cnn 1e-3, residual 3e-3")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat")
    parser.add_argument("--repeats", type=int, default=1, help="timed trainings")
    args = parser.parse_args()
    default_epochs, default_rate = DEFAULTS[args.model]
    args.epochs = args.epochs or default_epochs
    args.learning_rate = args.learning_rate or default_rate
    workload = "digits" if args.model == "cnn" else "digits-" + args.model
    torch.set_num_threads(args.threads)
    emit.extra.update(threads=torch.get_num_threads(), torch=torch.__version__)

    x_train, y_train, x_test, y_test = load_split(args.data)
    fit(make_model(99, args.model), x_train, y_train, 1, args.batch_size, args.learning_rate,
        torch.Generator().manual_seed(98))                                   # warm-up
    for rep in range(args.repeats):
        seed = args.seed + rep
        model = make_model(seed, args.model)
        generator = torch.Generator().manual_seed(seed + 1)
        t0 = time.perf_counter()
        steps, epoch_seconds = fit(model, x_train, y_train, args.epochs, args.batch_size,
                                   args.learning_rate, generator)
        seconds = time.perf_counter() - t0
        emit(workload=workload, form="eager", seconds=seconds, epochs=args.epochs, steps=steps,
             us_per_step=seconds / steps * 1e6,
             median_epoch_ms=sorted(epoch_seconds)[len(epoch_seconds) // 2] * 1e3,
             train=len(y_train), test=len(y_test), accuracy=accuracy(model, x_test, y_test))


if __name__ == "__main__":
    main()
