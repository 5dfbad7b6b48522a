#!/usr/bin/env python3
"""JAX peer: the spiral fit and the MLP's training steps on the CPU, each in two forms: one
jitted step per batch (jit_step), and all the steps as one lax.scan in one jit (scan).

Prints one JSON line per measurement (see README.md). Run `python jax_peer.py --help`.
"""
import common

# The thread count (the CPUs XLA may use), before jax loads.
common.limit_jax_threads()

import time  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

emit = common.Emitter("jax")


# ---------------------------------------------------------------------------------------------
# Data and model

def init_params(sizes, rng):
    """He-normal W [in, out] (N(0, 2/in)), zero b: a list of (W, b) pairs, float32."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        params.append((jnp.asarray(w), jnp.zeros(fan_out, jnp.float32)))
    return params


def forward(params, x):
    """Linear -> ReLU -> ... -> Linear, y = x @ W + b."""
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def loss_fn(params, x, y):
    """Mean softmax cross-entropy."""
    logits = forward(params, x)
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def sgd_update(params, velocities, grads, lr, momentum, weight_decay=0.0):
    """torch.optim.SGD (dampening 0, no Nesterov): v = m*v + (g + wd*p); p -= lr*v."""
    if weight_decay:
        grads = jax.tree_util.tree_map(lambda g, p: g + weight_decay * p, grads, params)
    velocities = jax.tree_util.tree_map(lambda v, g: momentum * v + g, velocities, grads)
    params = jax.tree_util.tree_map(lambda p, v: p - lr * v, params, velocities)
    return params, velocities


def adam_update(params, state, grads, lr, beta1, beta2, eps):
    """torch.optim.Adam (no weight decay, not amsgrad), state (t, m, v) with t the steps taken:
    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps), t counting this step."""
    t, m, v = state
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: beta1 * m + (1 - beta1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda v, g: beta2 * v + (1 - beta2) * g * g, v, grads)
    step_size = lr / (1 - beta1 ** t)
    root_correction = jnp.sqrt(1 - beta2 ** t)
    params = jax.tree_util.tree_map(
        lambda p, m, v: p - step_size * m / (jnp.sqrt(v) / root_correction + eps), params, m, v)
    return params, (t, m, v)


def rmsprop_update(params, squares, grads, lr, alpha, eps):
    """torch.optim.RMSprop (no momentum, not centered): s = a*s + (1-a)*g^2;
    p -= lr * g / (sqrt(s) + eps)."""
    squares = jax.tree_util.tree_map(lambda s, g: alpha * s + (1 - alpha) * g * g, squares,
                                     grads)
    params = jax.tree_util.tree_map(lambda p, g, s: p - lr * g / (jnp.sqrt(s) + eps), params,
                                    grads, squares)
    return params, squares


def zeros_like(params):
    return jax.tree_util.tree_map(jnp.zeros_like, params)


def adam_state(params):
    return jnp.zeros((), jnp.float32), zeros_like(params), zeros_like(params)


# --optimizer -> (update, its state for given parameters)
MLP_UPDATES = {"sgd": (sgd_update, zeros_like), "adam": (adam_update, adam_state),
               "rmsprop": (rmsprop_update, zeros_like)}


def train_step(params, state, x, y, update):
    """One step: the loss and its gradients, then update(params, state, grads)."""
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    params, state = update(params, state, grads)
    return params, state, loss


def accuracy(params, x, y):
    return float(jnp.mean(jnp.argmax(forward(params, x), axis=1) == y))


# ---------------------------------------------------------------------------------------------
# Spiral

SPIRAL_UPDATE = partial(sgd_update, lr=0.1, momentum=0.9, weight_decay=0.001)

# One jitted step; params and velocities are donated (updated in place where XLA can).
spiral_step = jax.jit(partial(train_step, update=SPIRAL_UPDATE), donate_argnums=(0, 1))


def fit_spiral_steps(params, x, y, epochs, batch, rng):
    """Host loop: a numpy permutation per epoch, numpy gathers the batch rows, one jitted call
    per step. Returns the parameters (not yet blocked on)."""
    velocities = zeros_like(params)
    n = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            params, velocities, _ = spiral_step(params, velocities, x[idx], y[idx])
    return params


@partial(jax.jit, static_argnames=("epochs", "batch", "unroll"))
def fit_spiral_scan(params, x, y, key, epochs, batch, unroll=1):
    """The whole fit in one jit: epochs permutations drawn with jax.random, then one lax.scan
    over all epochs * (n / batch) steps, each gathering its batch rows from x, y."""
    n = x.shape[0]
    keys = jax.random.split(key, epochs)
    order = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)      # [epochs, n]
    batches = order.reshape(epochs * (n // batch), batch)                 # [steps, batch]
    velocities = zeros_like(params)

    def body(carry, idx):
        p, v = carry
        p, v, loss = train_step(p, v, x[idx], y[idx], SPIRAL_UPDATE)
        return (p, v), loss

    (params, _), losses = jax.lax.scan(body, (params, velocities), batches, unroll=unroll)
    return params, losses


def bench_spiral(args):
    x, y = common.spiral(np.int32)
    batch = 20
    assert x.shape[0] % batch == 0
    steps = args.epochs * (x.shape[0] // batch)

    # Form 1: one jitted step per batch. Warm-up (compiles) on throw-away parameters.
    jax.block_until_ready(
        fit_spiral_steps(init_params([2, 100, 3], np.random.default_rng(99)), x, y, 1, batch,
                         np.random.default_rng(98)))
    for rep in range(args.repeats):
        params = init_params([2, 100, 3], np.random.default_rng(1 + rep))
        jax.block_until_ready(params)
        rng = np.random.default_rng(2 + rep)
        t0 = time.perf_counter()
        params = fit_spiral_steps(params, x, y, args.epochs, batch, rng)
        jax.block_until_ready(params)
        seconds = time.perf_counter() - t0
        emit.spiral("jit_step", seconds, steps, accuracy(params, x, y))

    # Form 2: all steps as one lax.scan in one jit. x, y on the device once, outside the clock.
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    run = partial(fit_spiral_scan, epochs=args.epochs, batch=batch, unroll=args.scan_unroll)
    jax.block_until_ready(run(init_params([2, 100, 3], np.random.default_rng(99)), xd, yd,
                              jax.random.key(98)))                      # compiles
    for rep in range(args.repeats):
        params = init_params([2, 100, 3], np.random.default_rng(1 + rep))
        key = jax.random.key(2 + rep)
        jax.block_until_ready((params, key))
        t0 = time.perf_counter()
        params, losses = run(params, xd, yd, key)
        jax.block_until_ready(params)
        seconds = time.perf_counter() - t0
        emit.spiral("scan", seconds, steps, accuracy(params, x, y))


# ---------------------------------------------------------------------------------------------
# MLP

@partial(jax.jit, static_argnames=("steps", "update"), donate_argnums=(0, 1))
def mlp_scan(params, state, xs, ys, steps, update):
    """steps training steps as one lax.scan: step i on batch i mod len(xs) of the pool stacked
    on the device (xs [len, batch, 784], ys [len, batch]). Returns the parameters, the
    optimizer state and the last step's loss."""
    def body(carry, i):
        p, s = carry
        p, s, loss = train_step(p, s, xs[i % xs.shape[0]], ys[i % ys.shape[0]], update)
        return (p, s), loss

    (params, state), losses = jax.lax.scan(body, (params, state), jnp.arange(steps))
    return params, state, losses[-1]


def bench_mlp(args, batch):
    update, optimizer_state = MLP_UPDATES[args.optimizer]
    update = partial(update, **common.MLP_OPTIMIZERS[args.optimizer])
    bench_mlp_steps(args, batch, update, optimizer_state)
    bench_mlp_scan(args, batch, update, optimizer_state)


def bench_mlp_steps(args, batch, update, optimizer_state):
    """jit_step: one jitted step per batch; parameters and optimizer state are donated."""
    mlp_step = jax.jit(partial(train_step, update=update), donate_argnums=(0, 1))
    rng = np.random.default_rng(0)
    params = init_params([784, 1024, 1024, 10], rng)
    state = [params, optimizer_state(params), None]     # parameters, optimizer state, last loss
    # The data, already on the device (as numpy arrays are for numpy).
    pool = [(jnp.asarray(x), jnp.asarray(y.astype(np.int32)))
            for x, y in common.mlp_batches(rng, batch)]

    def step(x, y):                                     # the first call (a warm-up) compiles
        state[:] = mlp_step(state[0], state[1], x, y)
        return state[2]

    def sync():                                         # before the clock stops
        jax.block_until_ready(state)

    common.bench_mlp(args, emit, batch, pool, step, sync, form="jit_step")


def bench_mlp_scan(args, batch, update, optimizer_state):
    """scan: the timed steps as one call of mlp_scan, the pool stacked on the device. The first
    call, untimed, compiles (and trains as many steps)."""
    rng = np.random.default_rng(0)
    params = init_params([784, 1024, 1024, 10], rng)
    pool = common.mlp_batches(rng, batch)
    xs = jnp.asarray(np.stack([x for x, _ in pool]))
    ys = jnp.asarray(np.stack([y.astype(np.int32) for _, y in pool]))
    steps = common.mlp_steps(args, batch)
    run = partial(mlp_scan, steps=steps, update=update)
    params, state, loss = run(params, optimizer_state(params), xs, ys)
    jax.block_until_ready((params, state))
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        params, state, loss = run(params, state, xs, ys)
        jax.block_until_ready((params, state, loss))
        seconds = time.perf_counter() - t0
        emit.mlp(batch, steps, seconds, loss.item(), args.optimizer, form="scan")


# ---------------------------------------------------------------------------------------------

def main():
    parser = common.make_parser(
        __doc__, "CPUs XLA may use (affinity mask, set before jax loads)")
    parser.add_argument("--scan-unroll", type=int, default=1,
                        help="the spiral's lax.scan unroll factor")
    args = common.parse_args(parser)
    emit.extra["threads"] = args.threads
    emit.extra["jax"] = jax.__version__
    # XLA compiles the products itself (its CPU backend: Eigen contractions or oneDNN).
    emit.extra["blas"] = "XLA %s backend" % jax.default_backend()
    common.run(args, emit, bench_spiral, bench_mlp)


if __name__ == "__main__":
    main()
