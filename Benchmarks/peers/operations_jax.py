#!/usr/bin/env python3
"""JAX's side of the `operations` benchmark (Benchmarks/Sources/operations): the cases of
operations_torch.py, each as ONE jax.jit'd function of its inputs that returns the forward
output and the gradients of the inputs PyTorch's side asks for (what an eager framework
materialises; XLA would drop a forward output nobody returns). XLA compiles forward and
backward together and fuses their loops, where ours and PyTorch run the graph eagerly.

    $VENV/bin/python Benchmarks/peers/operations_jax.py --threads 1

Reads lines "<case> <threads> <iterations>" on standard input and answers each with the seconds
one call took, the mean of `iterations` calls after one untimed call (the first, compiling,
when the case is new), each blocked on until its results are ready. <threads> must be the
process's --threads (default 2): XLA sizes its thread pool when jax loads (common.py,
limit_jax_threads), so operations_rounds.py starts one process per thread count. The output
gradient is an input of the function, ones or normal as on PyTorch's side; the inputs are made
once, on the device.
"""
import common

THREADS = common.limit_jax_threads()

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

rng = np.random.default_rng(0)


def normal(shape):
    return jnp.asarray(rng.standard_normal(shape).astype(np.float32))


def ones(shape):
    return jnp.ones(shape, jnp.float32)


UNARY = {"exp": jnp.exp, "log": jnp.log, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
         "relu": jax.nn.relu, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
         "sqrt": jnp.sqrt, "sin": jnp.sin, "cos": jnp.cos, "abs": jnp.abs}
SCALAR = {"addscalar": lambda a: a * 2 + 1, "mulscalar": lambda a: a * 2,
          "divscalar": lambda a: a / 2, "rsubscalar": lambda a: 1 - a,
          "rdivscalar": lambda a: 2 / a}


def image(sizes):
    """N x channels x side (x anything): the [N, channels, side, side] input."""
    return [sizes[0], sizes[1], sizes[2], sizes[2]]


def linear(x, w, b):
    """x [N, in] times w [in, out] plus b [out]."""
    return x @ w + b


def convolution(stride, padding):
    """x [N, C, H, W] -> [N, out, H', W']: the convolution by w [out, C, k, k] at stride,
    padded by padding on every side, plus the bias b [out]."""
    def convolve(x, w, b):
        y = lax.conv_general_dilated(x, w, (stride, stride),
                                     ((padding, padding), (padding, padding)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]
    return convolve


def max_pool2(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def avg_pool2(x):
    return lax.reduce_window(x, 0.0, lax.add, (1, 1, 2, 2), (1, 1, 2, 2), "VALID") * 0.25


STEM_PADDING = ((0, 0), (0, 0), (1, 1), (1, 1))


def max_pool3s2p1(x):
    """A ResNet's stem, PyTorch's MaxPool2d(3, 2, 1): 3x3 windows, stride 2, padding 1 of -inf."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), STEM_PADDING)


def avg_pool3s2p1(x):
    """PyTorch's AvgPool2d(3, 2, 1): padding 1 of zeros counted, so every window divides by 9."""
    return lax.reduce_window(x, 0.0, lax.add, (1, 1, 3, 3), (1, 1, 2, 2), STEM_PADDING) / 9.0


def batch_norm(x, weight, bias):
    """PyTorch's BatchNorm in training mode: per feature (axis 1) the batch's mean and biased
    variance, eps 1e-5. (The running statistics, C values, are not kept.)"""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = jnp.square(x - mean).mean(axis=axes, keepdims=True)
    return (x - mean) * lax.rsqrt(var + 1e-5) * weight.reshape(shape) + bias.reshape(shape)


def huber(a, target):
    """PyTorch's huber_loss, delta 1: the mean of e²/2 where |e| < 1 and |e| - 1/2 elsewhere."""
    e = jnp.abs(a - target)
    return jnp.mean(jnp.where(e < 1, 0.5 * e * e, e - 0.5))


DIFFERENCE_LOSSES = {"mse": lambda a, target: jnp.mean(jnp.square(a - target)),
                     "l1": lambda a, target: jnp.mean(jnp.abs(a - target)), "huber": huber}


def with_gradients(function, inputs, dy=None, constants=()):
    """The case's pass: calls one jitted function of inputs, constants and dy that returns
    function(*inputs, *constants) and its gradients with respect to inputs for the output
    gradient dy (1 for a scalar output)."""
    def forward_backward(inputs, constants, dy):
        y, pullback = jax.vjp(lambda *x: function(*x, *constants), *inputs)
        return y, pullback(jnp.ones_like(y) if dy is None else dy)
    compiled = jax.jit(forward_backward)
    return lambda: compiled(inputs, constants, dy)


def make_pass(case):
    """The forward plus backward pass of case, its inputs made once."""
    operation, _, size_text = case.partition(":")
    sizes = [int(s) for s in size_text.split("x")] if size_text else []
    if operation in ("add", "sub", "mul", "div"):
        apply = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
                 "mul": lambda a, b: a * b, "div": lambda a, b: a / (b * b + 1)}[operation]
        return with_gradients(apply, (normal(sizes), normal(sizes)), ones(sizes))
    if operation in ("addbias", "mulbias"):
        apply = (lambda a, bias: a + bias) if operation == "addbias" else (lambda a, bias: a * bias)
        return with_gradients(apply, (normal(sizes), normal([sizes[-1]])), ones(sizes))
    if operation == "mulchan":
        return with_gradients(lambda a, scale: a * scale,
                              (normal(sizes), normal([1, sizes[1], 1, 1])), ones(sizes))
    if operation in SCALAR:
        a = normal(sizes)
        if operation == "rdivscalar":
            a = jnp.abs(a) + 0.1
        return with_gradients(SCALAR[operation], (a,), ones(sizes))
    exponent = common.power_exponent(operation)
    if operation in UNARY or exponent is not None:
        x = normal(sizes)
        if operation in ("log", "sqrt") or exponent not in (None, 2, 3):
            x = jnp.abs(x) + 0.1
        function = UNARY.get(operation, lambda x: x ** exponent)
        return with_gradients(function, (x,), ones(sizes))
    if operation in ("sum", "mean", "max"):
        return with_gradients({"sum": jnp.sum, "mean": jnp.mean, "max": jnp.max}[operation],
                              (normal(sizes),))
    if operation in ("sum0", "sum1", "mean0", "mean1", "max0", "max1"):
        axis = int(operation[-1])
        reduce = {"sum": jnp.sum, "mean": jnp.mean, "max": jnp.max}[operation[:-1]]
        return with_gradients(lambda a: reduce(a, axis=axis), (normal(sizes),),
                              ones(sizes[:axis] + sizes[axis + 1:]))
    if operation in ("transpose", "reshape", "rows", "gather"):
        n, f = sizes
        indices = jnp.arange(n) * 7 % n
        apply = {"transpose": lambda a: a.T, "reshape": lambda a: a.reshape(f, n),
                 "rows": lambda a: a[n // 4:n // 4 + n // 2],
                 "gather": lambda a, indices: jnp.take(a, indices, axis=0)}[operation]
        constants = (indices,) if operation == "gather" else ()
        shape = jax.eval_shape(apply, jnp.zeros(sizes), *constants).shape
        return with_gradients(apply, (normal(sizes),), ones(shape), constants)
    if operation in ("concat0", "concat1"):
        axis = int(operation[-1])
        joined = list(sizes)
        joined[axis] *= 2
        return with_gradients(lambda a, b: jnp.concatenate([a, b], axis=axis),
                              (normal(sizes), normal(sizes)), ones(joined))
    if operation in ("softmax", "logsoftmax"):
        function = jax.nn.softmax if operation == "softmax" else jax.nn.log_softmax
        return with_gradients(lambda a: function(a, axis=-1), (normal(sizes),), normal(sizes))
    if operation == "xent":
        def cross_entropy(a, labels):
            log_p = jax.nn.log_softmax(a, axis=-1)
            return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))
        return with_gradients(cross_entropy, (normal(sizes),),
                              constants=(jnp.arange(sizes[0]) % sizes[1],))
    if operation in ("mse", "l1", "huber"):
        return with_gradients(DIFFERENCE_LOSSES[operation], (normal(sizes),),
                              constants=(normal(sizes),))
    if operation == "bce":
        # PyTorch's binary_cross_entropy_with_logits: softplus(z) - z t = max(z, 0) - z t
        # + log(1 + e^-|z|).
        targets = (normal(sizes) > 0).astype(jnp.float32)
        return with_gradients(lambda z, t: jnp.mean(jax.nn.softplus(z) - z * t),
                              (normal(sizes),), constants=(targets,))
    if operation == "dropout":
        # Training mode, probability 0.5: a mask drawn in the function from a fixed key (a
        # new key every call would only add the split), the kept values doubled.
        def dropout(x, key):
            return jnp.where(jax.random.bernoulli(key, 0.5, x.shape), x * 2, 0)
        return with_gradients(dropout, (normal(sizes),), ones(sizes),
                              (jax.random.key(0),))
    if operation in ("matmul", "matmulta", "matmultb"):
        (m, k, n), ta, tb = sizes, operation == "matmulta", operation == "matmultb"
        return with_gradients(lambda a, b: (a.T if ta else a) @ (b.T if tb else b),
                              (normal([k, m] if ta else [m, k]), normal([n, k] if tb else [k, n])),
                              ones([m, n]))
    if operation in ("linear", "linrelu"):
        w = normal(sizes[1:]) / np.float32(np.sqrt(sizes[1]))
        b = normal([sizes[2]]) / np.float32(np.sqrt(sizes[1]))
        function = linear if operation == "linear" else lambda *a: jax.nn.relu(linear(*a))
        return with_gradients(function, (normal(sizes[:2]), w, b), ones([sizes[0], sizes[2]]))
    form = common.convolution_form(operation)
    if form is not None:
        kernel, stride, padding = form
        fan_in = sizes[1] * kernel * kernel
        w = normal([sizes[3], sizes[1], kernel, kernel]) / np.float32(np.sqrt(fan_in))
        b = normal([sizes[3]]) / np.float32(np.sqrt(fan_in))
        side = (sizes[2] + 2 * padding - kernel) // stride + 1
        return with_gradients(convolution(stride, padding), (normal(image(sizes)), w, b),
                              ones([sizes[0], sizes[3], side, side]))
    if operation in ("maxpool", "avgpool", "maxpool3s2p1", "avgpool3s2p1"):
        pool = {"maxpool": max_pool2, "avgpool": avg_pool2, "maxpool3s2p1": max_pool3s2p1,
                "avgpool3s2p1": avg_pool3s2p1}[operation]
        side = (sizes[2] + 1) // 2 if operation.endswith("3s2p1") else sizes[2] // 2
        return with_gradients(pool, (normal(image(sizes)),), ones([sizes[0], sizes[1], side, side]))
    if operation in ("bn2d", "bn1d"):
        shape = image(sizes) if operation == "bn2d" else sizes
        parameters = (ones([sizes[1]]), jnp.zeros([sizes[1]], jnp.float32))
        return with_gradients(batch_norm, (normal(shape),) + parameters, normal(shape))
    if operation == "flatten":
        x = normal(sizes)
        return with_gradients(lambda x: x.reshape(x.shape[0], -1), (x,),
                              ones([sizes[0], x[0].size]))
    raise SystemExit("operations_jax.py: unknown operation %s in case %s" % (operation, case))


def require_threads(threads):
    if threads != THREADS:
        raise SystemExit("operations_jax.py: started with --threads %d, asked for %d"
                         % (THREADS, threads))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2,
                        help="CPUs XLA may use (affinity mask, set before jax loads)")
    parser.parse_args()
    common.answer_operations(make_pass, require_threads, jax.block_until_ready)


if __name__ == "__main__":
    main()
