#!/usr/bin/env python3
"""PyTorch's side of the `operations` benchmark (Benchmarks/Sources/operations): the same cases
on PyTorch eager, read and answered in the same way. Reads lines "<case> <threads>
<iterations>" on standard input and answers each with the seconds one forward plus backward
pass took, the mean of `iterations` passes after one untimed pass, on torch.set_num_threads
threads. The cases and their sizes are those of the Swift program."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import common

torch.manual_seed(0)


def normal(shape, requires_grad=True):
    return torch.randn(*shape).requires_grad_(requires_grad)


UNARY = {"exp": torch.exp, "log": torch.log, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
         "relu": torch.relu, "gelu": F.gelu, "sqrt": torch.sqrt, "sin": torch.sin,
         "cos": torch.cos, "abs": torch.abs}
SCALAR = {"addscalar": lambda a: a * 2 + 1, "mulscalar": lambda a: a * 2,
          "divscalar": lambda a: a / 2, "rsubscalar": lambda a: 1 - a,
          "rdivscalar": lambda a: 2 / a}


def image(sizes):
    """N x channels x side (x anything): the [N, channels, side, side] input."""
    return [sizes[0], sizes[1], sizes[2], sizes[2]]


def make_pass(case):
    """The forward plus backward pass of case, its inputs made once."""
    operation, _, size_text = case.partition(":")
    sizes = [int(s) for s in size_text.split("x")] if size_text else []
    if operation in ("add", "sub", "mul", "div"):
        a, b, dy = normal(sizes), normal(sizes), torch.ones(sizes)
        apply = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
                 "div": lambda: a / (b * b + 1)}
        return lambda: apply[operation]().backward(dy)
    if operation in ("addbias", "mulbias"):
        a, bias, dy = normal(sizes), normal([sizes[-1]]), torch.ones(sizes)
        return lambda: (a + bias if operation == "addbias" else a * bias).backward(dy)
    if operation == "mulchan":
        a, scale, dy = normal(sizes), normal([1, sizes[1], 1, 1]), torch.ones(sizes)
        return lambda: (a * scale).backward(dy)
    if operation in SCALAR:
        a = normal(sizes, requires_grad=False)
        if operation == "rdivscalar":
            a = a.abs() + 0.1
        a.requires_grad_(True)
        function, dy = SCALAR[operation], torch.ones(sizes)
        return lambda: function(a).backward(dy)
    exponent = common.power_exponent(operation)
    if operation in UNARY or exponent is not None:
        x = normal(sizes, requires_grad=False)
        if operation in ("log", "sqrt") or exponent not in (None, 2, 3):
            x = x.abs() + 0.1
        x.requires_grad_(True)
        function = UNARY.get(operation, lambda x: torch.pow(x, exponent))
        dy = torch.ones(sizes)
        return lambda: function(x).backward(dy)
    if operation in ("sum", "mean", "max"):
        a = normal(sizes)
        reduce = {"sum": torch.sum, "mean": torch.mean, "max": torch.max}[operation]
        return lambda: reduce(a).backward()
    if operation in ("sum0", "sum1", "mean0", "mean1", "max0", "max1"):
        a, axis = normal(sizes), int(operation[-1])
        dy = torch.ones(sizes[:axis] + sizes[axis + 1:])
        reduce = {"sum": torch.sum, "mean": torch.mean,
                  "max": lambda x, dim: torch.max(x, dim=dim).values}[operation[:-1]]
        return lambda: reduce(a, dim=axis).backward(dy)
    if operation in ("transpose", "reshape", "rows", "gather"):
        a, (n, f) = normal(sizes), sizes
        indices = torch.arange(n) * 7 % n
        apply = {"transpose": lambda: a.t().contiguous(), "reshape": lambda: a.reshape(f, n),
                 "rows": lambda: a[n // 4:n // 4 + n // 2],
                 "gather": lambda: torch.index_select(a, 0, indices)}[operation]
        dy = torch.ones(apply().shape)
        return lambda: apply().backward(dy)
    if operation in ("concat0", "concat1"):
        a, b, axis = normal(sizes), normal(sizes), int(operation[-1])
        joined = list(sizes)
        joined[axis] *= 2
        dy = torch.ones(joined)
        return lambda: torch.cat([a, b], dim=axis).backward(dy)
    if operation in ("softmax", "logsoftmax"):
        a, dy = normal(sizes), torch.randn(sizes)
        function = F.softmax if operation == "softmax" else F.log_softmax
        return lambda: function(a, dim=-1).backward(dy)
    if operation == "xent":
        a, labels = normal(sizes), torch.arange(sizes[0]) % sizes[1]
        return lambda: F.cross_entropy(a, labels).backward()
    if operation in ("mse", "l1", "huber"):
        a, target = normal(sizes), torch.randn(sizes)
        loss = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.huber_loss}[operation]
        return lambda: loss(a, target).backward()
    if operation == "bce":
        logits, targets = normal(sizes), (torch.randn(sizes) > 0).float()
        return lambda: F.binary_cross_entropy_with_logits(logits, targets).backward()
    if operation == "dropout":
        x, dy = normal(sizes), torch.ones(sizes)
        return lambda: F.dropout(x, 0.5, training=True).backward(dy)
    if operation in ("matmul", "matmulta", "matmultb"):
        (m, k, n), ta, tb = sizes, operation == "matmulta", operation == "matmultb"
        a, b = normal([k, m] if ta else [m, k]), normal([n, k] if tb else [k, n])
        dy = torch.ones(m, n)
        return lambda: ((a.t() if ta else a) @ (b.t() if tb else b)).backward(dy)
    if operation in ("linear", "linrelu"):
        layer, x = nn.Linear(sizes[1], sizes[2]), normal(sizes[:2])
        dy = torch.ones(sizes[0], sizes[2])
        if operation == "linear":
            return lambda: layer(x).backward(dy)
        return lambda: torch.relu(layer(x)).backward(dy)
    form = common.convolution_form(operation)
    if form is not None:
        kernel, stride, padding = form
        layer = nn.Conv2d(sizes[1], sizes[3], kernel, stride=stride, padding=padding)
        side = (sizes[2] + 2 * padding - kernel) // stride + 1
        x, dy = normal(image(sizes)), torch.ones(sizes[0], sizes[3], side, side)
        return lambda: layer(x).backward(dy)
    if operation in ("maxpool", "avgpool", "maxpool3s2p1", "avgpool3s2p1"):
        k, s, p = (3, 2, 1) if operation.endswith("3s2p1") else (2, 2, 0)
        layer = (nn.MaxPool2d if operation.startswith("max") else nn.AvgPool2d)(k, s, p)
        side = (sizes[2] + 2 * p - k) // s + 1
        x, dy = normal(image(sizes)), torch.ones(sizes[0], sizes[1], side, side)
        return lambda: layer(x).backward(dy)
    if operation in ("bn2d", "bn1d"):
        shape = image(sizes) if operation == "bn2d" else sizes
        layer = nn.BatchNorm2d(sizes[1]) if operation == "bn2d" else nn.BatchNorm1d(sizes[1])
        x, dy = normal(shape), torch.randn(shape)
        return lambda: layer(x).backward(dy)
    if operation == "flatten":
        x = normal(sizes)
        dy = torch.ones(sizes[0], x[0].numel())
        return lambda: torch.flatten(x, 1).backward(dy)
    raise SystemExit("operations_torch.py: unknown operation %s in case %s" % (operation, case))


def main():
    common.answer_operations(make_pass, torch.set_num_threads)


if __name__ == "__main__":
    main()
