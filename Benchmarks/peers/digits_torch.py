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
import time

import common

common.set_thread_env(("OMP_NUM_THREADS", "MKL_NUM_THREADS"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

emit = common.Emitter("torch")


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
    args = common.parse_digits_args(common.digits_parser(__doc__.split("\n")[0],
                                                         "torch.set_num_threads"))
    torch.set_num_threads(args.threads)
    emit.extra.update(threads=torch.get_num_threads(), torch=torch.__version__)

    x_train, y_train, x_test, y_test = (torch.from_numpy(a)
                                        for a in common.digits_split(args.data))
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
        common.emit_digits(emit, args, "eager", seconds, steps, epoch_seconds, len(y_train),
                           len(y_test), accuracy(model, x_test, y_test))


if __name__ == "__main__":
    main()
