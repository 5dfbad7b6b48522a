#!/usr/bin/env python3
"""JAX peer (jitted, CPU) of the `digits` example: the networks of digits_torch.py, written with
jax.lax's convolution and pooling, the same data, split, initialization, Adam, batch and epochs.

--model cnn (default): conv 1->16 -> ReLU -> 2x2 max pool -> conv 16->32 -> ReLU -> flatten ->
linear 512->10; Adam(lr=1e-3), 30 epochs.
--model residual: conv 1->16 -> batch norm -> ReLU -> 2 residual blocks
(relu(x + bn2(conv2(relu(bn1(conv1(x))))))) -> 2x2 max pool -> flatten -> linear 256->10;
Adam(lr=3e-3), 10 epochs.
Convolutions are 3x3 with padding 1 (NCHW, weights [out, in, 3, 3]); batch normalization as
PyTorch's BatchNorm2d in training mode (the batch's biased variance, eps 1e-5, running
statistics with momentum 0.1 and the unbiased variance, used for the test accuracy).

One jitted step per batch (forward, loss, gradients, Adam; parameters, running statistics and
Adam's state donated); the permutation and the batch's gather in numpy on the host. After one
untimed warm-up epoch on a separate model (it compiles the steps of the full and the last,
shorter batch), each repeat times the training (blocking on the parameters after every epoch)
and prints one JSON line as digits_torch.py does, with "form": "jit_step".

    $VENV/bin/python Benchmarks/peers/digits_jax.py --threads 2 --repeats 3
    $VENV/bin/python Benchmarks/peers/digits_jax.py --model residual --threads 2
"""
import time
from functools import partial

# jax_peer sets the thread count (the CPUs XLA may use) before jax loads; it has Adam's rule.
import jax_peer
import common

import numpy as np
import jax
import jax.numpy as jnp
from jax import lax

emit = common.Emitter("jax")
BATCH_NORM_EPS, BATCH_NORM_MOMENTUM = 1e-5, 0.1


# ---------------------------------------------------------------------------------------------
# Layers

def conv3x3(x, layer):
    """x [N, C, H, W] -> [N, out, H, W]: 3x3 convolution, padding 1, plus the bias."""
    y = lax.conv_general_dilated(x, layer["w"], (1, 1), ((1, 1), (1, 1)),
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + layer["b"][None, :, None, None]


def max_pool2(x):
    """2x2 max pooling, stride 2."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def batch_norm(x, layer, running, train):
    """Per channel of x [N, C, H, W]: (x - mean) / sqrt(var + eps) * weight + bias, with the
    batch's mean and biased variance when training (returning the updated running statistics)
    and the running ones otherwise."""
    if train:
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        count = x.size // x.shape[1]
        running = {
            "mean": (1 - BATCH_NORM_MOMENTUM) * running["mean"] + BATCH_NORM_MOMENTUM * mean,
            "var": (1 - BATCH_NORM_MOMENTUM) * running["var"]
                   + BATCH_NORM_MOMENTUM * var * count / (count - 1)}
    else:
        mean, var = running["mean"], running["var"]
    scale = layer["weight"] / jnp.sqrt(var + BATCH_NORM_EPS)
    y = (x - mean[None, :, None, None]) * scale[None, :, None, None]
    return y + layer["bias"][None, :, None, None], running


def linear(x, layer):
    return x @ layer["w"] + layer["b"]


# ---------------------------------------------------------------------------------------------
# Networks: parameters and running statistics are dicts of arrays

def he_normal(rng, shape, fan_in):
    return jnp.asarray((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))


def conv_params(rng, channels_in, channels_out):
    return {"w": he_normal(rng, (channels_out, channels_in, 3, 3), channels_in * 9),
            "b": jnp.zeros(channels_out, jnp.float32)}


def batch_norm_params(channels):
    return ({"weight": jnp.ones(channels, jnp.float32), "bias": jnp.zeros(channels, jnp.float32)},
            {"mean": jnp.zeros(channels, jnp.float32), "var": jnp.ones(channels, jnp.float32)})


def linear_params(rng, fan_in, fan_out):
    return {"w": he_normal(rng, (fan_in, fan_out), fan_in), "b": jnp.zeros(fan_out, jnp.float32)}


def make_model(seed, name):
    """(parameters, running statistics) of the network, He-normal weights, zero biases."""
    rng = np.random.default_rng(seed)
    if name == "cnn":
        return {"conv1": conv_params(rng, 1, 16), "conv2": conv_params(rng, 16, 32),
                "fc": linear_params(rng, 512, 10)}, {}
    params, stats = {"conv": conv_params(rng, 1, 16), "fc": linear_params(rng, 256, 10)}, {}
    for bn in ["bn", "b1.bn1", "b1.bn2", "b2.bn1", "b2.bn2"]:
        params[bn], stats[bn] = batch_norm_params(16)
    for conv in ["b1.conv1", "b1.conv2", "b2.conv1", "b2.conv2"]:
        params[conv] = conv_params(rng, 16, 16)
    return params, stats


def forward(name, params, stats, x, train):
    """The logits, and the running statistics (updated when training)."""
    if name == "cnn":
        h = max_pool2(jax.nn.relu(conv3x3(x, params["conv1"])))
        h = jax.nn.relu(conv3x3(h, params["conv2"]))
        return linear(h.reshape(h.shape[0], -1), params["fc"]), stats
    stats = dict(stats)

    def bn(h, key):
        h, stats[key] = batch_norm(h, params[key], stats[key], train)
        return h

    h = jax.nn.relu(bn(conv3x3(x, params["conv"]), "bn"))
    for block in ("b1", "b2"):
        inner = jax.nn.relu(bn(conv3x3(h, params[block + ".conv1"]), block + ".bn1"))
        h = jax.nn.relu(h + bn(conv3x3(inner, params[block + ".conv2"]), block + ".bn2"))
    h = max_pool2(h)
    return linear(h.reshape(h.shape[0], -1), params["fc"]), stats


def loss_fn(params, stats, x, y, name):
    """Mean softmax cross-entropy, and the updated running statistics."""
    logits, stats = forward(name, params, stats, x, True)
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), stats


@partial(jax.jit, static_argnames=("name", "lr"), donate_argnums=(0, 1, 2))
def train_step(params, stats, adam, x, y, name, lr):
    (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y, name)
    params, adam = jax_peer.adam_update(params, adam, grads, lr, **common.ADAM_DEFAULTS)
    return params, stats, adam


# ---------------------------------------------------------------------------------------------

def fit(name, model, x, y, epochs, batch, lr, rng):
    """Adam, shuffled mini-batches; returns the model, the number of steps and each epoch's
    seconds."""
    params, stats = model
    adam = jax_peer.adam_state(params)
    n, steps, epoch_seconds = x.shape[0], 0, []
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            params, stats, adam = train_step(params, stats, adam, x[idx], y[idx], name=name, lr=lr)
            steps += 1
        jax.block_until_ready(params)
        epoch_seconds.append(time.perf_counter() - epoch_start)
    return (params, stats), steps, epoch_seconds


def accuracy(name, model, x, y):
    logits, _ = forward(name, *model, jnp.asarray(x), False)
    return float(jnp.mean(jnp.argmax(logits, axis=1) == y))


def main():
    args = common.parse_digits_args(common.digits_parser(
        __doc__.split("\n")[0], "CPUs XLA may use (affinity mask, set before jax loads)"))
    emit.extra.update(threads=args.threads, jax=jax.__version__)
    x_train, y_train, x_test, y_test = common.digits_split(args.data)
    y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)
    fit(args.model, make_model(99, args.model), x_train, y_train, 1, args.batch_size,
        args.learning_rate, np.random.default_rng(98))                        # warm-up
    for rep in range(args.repeats):
        seed = args.seed + rep
        model = make_model(seed, args.model)
        jax.block_until_ready(model)
        t0 = time.perf_counter()
        model, steps, epoch_seconds = fit(args.model, model, x_train, y_train, args.epochs,
                                          args.batch_size, args.learning_rate,
                                          np.random.default_rng(seed + 1))
        seconds = time.perf_counter() - t0
        common.emit_digits(emit, args, "jit_step", seconds, steps, epoch_seconds, len(y_train),
                           len(y_test), accuracy(args.model, model, x_test, y_test))


if __name__ == "__main__":
    main()
