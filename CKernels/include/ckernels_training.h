/*
 * ckernels_training.h — losses, regularizers and optimizer updates.
 *
 * Part of ckernels.h, whose conventions (layouts, sizes, aliasing, thread independence) hold
 * for every function here.
 */
#ifndef CKERNELS_TRAINING_H
#define CKERNELS_TRAINING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Losses
 * ------------------------------------------------------------------------------------- */

/* Error code of ck_softmax_cross_entropy: a label is outside [0, classes). */
#define CK_ERROR_LABEL_OUT_OF_RANGE 1

/* Fused softmax + cross-entropy over a rows x classes matrix of logits (dense, rows >= 1,
 * classes >= 1) and one label per row:
 *   *loss      = (1 / rows) * sum over i of -log softmax(logits[i])[labels[i]]
 *   dlogits[i] = (softmax(logits[i]) - onehot(labels[i])) / rows
 * Each row is computed from its maximum (log-sum-exp), so logits of +-1e4 give a finite loss
 * and the exact gradient. dlogits may be logits (in place); dlogits may be NULL when only
 * the loss is wanted. Returns 0, or CK_ERROR_LABEL_OUT_OF_RANGE and writes nothing when
 * any label is outside [0, classes). Each row's sum of exponentials is taken in double as
 * ck_softmax's, rounded to float once; the rows' losses are summed in double in an order fixed
 * by rows and classes: the same bits on every instruction set and thread count. */
int ck_softmax_cross_entropy(int64_t rows, int64_t classes, const float *logits,
                             const int32_t *labels, float *dlogits, float *loss);

/* probs[i] = softmax(logits[i]) for a dense rows x classes matrix (max-subtracted, stable;
 * each row's sum of exponentials in double in 16 partial sums, element j in sum j % 16, the
 * elements past the last full 16 in one more, in order; the 16 added in a fixed tree, then
 * that one; rounded to float once: the same bits on every instruction set). probs may
 * be logits (in place). */
void ck_softmax(int64_t rows, int64_t classes, const float *logits, float *probs);

/* Backward of a row-wise softmax over a dense rows x classes matrix, from its output y:
 * dx[i][j] (+)= y[i][j] * (dy[i][j] - sum over k of dy[i][k] * y[i][k]), the sum of the
 * exact products in double as ck_softmax's sums, rounded to float once; added to dx when
 * accumulate is nonzero, else written. dx may be dy. */
void ck_softmax_backward(int64_t rows, int64_t classes, const float *y, const float *dy,
                         int accumulate, float *dx);

/* Multi-class hinge loss, PyTorch's MultiMarginLoss with p = 1, margin 1, no class weights,
 * mean reduction, over a dense rows x classes matrix of scores x and one label per row:
 *   *loss = (1 / rows) * sum over i of (1 / classes) * sum over j != labels[i] of
 *           max(0, 1 - x[i][labels[i]] + x[i][j])
 * and dx, its gradient (every term with a positive margin adds 1 / (rows * classes) to
 * dx[i][j] and subtracts it from dx[i][labels[i]]). dx may be NULL; it must not overlap x.
 * Returns 0, or CK_ERROR_LABEL_OUT_OF_RANGE and writes nothing when a label is outside
 * [0, classes). Each row's margins (and the label's gradient) are summed in order in double;
 * the loss is summed in double in an order independent of the thread count. */
int ck_multi_margin(int64_t rows, int64_t classes, const float *x, const int32_t *labels,
                    float *dx, float *loss);

/* Mean squared error over n elements (PyTorch's MSELoss, mean reduction):
 *   *loss = (1 / n) * sum over i of (p[i] - t[i])^2,   dp[i] = 2 * (p[i] - t[i]) / n.
 * dp may be NULL, or p (in place); it must not overlap t otherwise. n >= 1. The loss is
 * summed in double as ck_sum sums (chunks fixed by n, each in 16 partial sums): in an order
 * independent of the thread count and the instruction set. */
void ck_mean_squared_error(int64_t n, const float *p, const float *t, float *dp, float *loss);

/* L1 loss over n elements (PyTorch's L1Loss, mean reduction):
 *   *loss = (1 / n) * sum over i of |p[i] - t[i]|,   dp[i] = sign(p[i] - t[i]) / n,
 * with sign(0) = 0, as PyTorch's gradient. dp may be NULL, or p (in place); it must not
 * overlap t otherwise. n >= 1. The loss is summed as ck_mean_squared_error's. */
void ck_l1_loss(int64_t n, const float *p, const float *t, float *dp, float *loss);

/* Huber loss over n elements (PyTorch's HuberLoss(delta), mean reduction), delta > 0, with
 * e[i] = p[i] - t[i]:
 *   *loss = (1 / n) * sum over i of (|e[i]| < delta ? e[i]^2 / 2 : delta * (|e[i]| - delta / 2))
 *   dp[i] = clamp(e[i], -delta, delta) / n
 * (both pieces meet at |e| = delta: value delta^2 / 2, gradient +-delta / n). PyTorch's
 * SmoothL1Loss(beta) is this loss with delta = beta, divided by beta. dp may be NULL, or p
 * (in place); it must not overlap t otherwise. n >= 1. The loss is summed as
 * ck_mean_squared_error's. */
void ck_huber_loss(int64_t n, float delta, const float *p, const float *t, float *dp,
                   float *loss);

/* ---------------------------------------------------------------------------------------
 * Regularizers
 * ------------------------------------------------------------------------------------- */

/* L1 and L2 penalties on n parameters, added to their gradients, returning the penalty:
 *   returns sum over i of l1 * |param[i]| + l2 * param[i]^2
 *   grad[i] += l1 * sign(param[i]) + 2 * l2 * param[i]      (sign(0) = 0)
 * The sum is taken in an order independent of the thread count. grad must not overlap
 * param. */
double ck_penalty(int64_t n, const float *param, float *grad, float l1, float l2);

/* ---------------------------------------------------------------------------------------
 * Optimizer updates
 * ------------------------------------------------------------------------------------- */

/* SGD, PyTorch's torch.optim.SGD, for n parameters, in one pass:
 *   g        = (maximize ? -grad : grad) + weight_decay * param
 *   velocity = g                                                 on the first step
 *   velocity = momentum * velocity + (1 - dampening) * g         after it
 *   param    = param - lr * (nesterov ? g + momentum * velocity : velocity)
 * first_step != 0 marks the first step (PyTorch's buffer is then a copy of g, undampened);
 * velocity is then written but not read, so it may hold anything. With momentum 0 the step
 * is plain SGD, param = param - lr * g, and, as PyTorch keeps no buffer then, velocity is
 * neither read nor written and may be NULL. The caller checks PyTorch's rule that Nesterov
 * needs momentum > 0 and dampening 0. Rounded as PyTorch's steps on a CPU with FMA, on every
 * instruction set: grad + weight_decay * param (as PyTorch, not added for weight decay 0,
 * so that an infinite param gives no NaN), (momentum * velocity) + (1 - dampening) * g (the
 * first product rounded), g + momentum * velocity and param - lr * (...) each round once (a
 * fused multiply-add); -grad is exact. nesterov and maximize are 0 or not. Reads grad; reads
 * and writes param and velocity. param, grad and velocity must not overlap. */
void ck_sgd(int64_t n, float *param, const float *grad, float *velocity, float lr,
            float momentum, float dampening, float weight_decay, int nesterov, int maximize,
            int first_step);

/* ck_sgd on `count` tensors in one call (one parallel region at most; the same results as
 * one ck_sgd per tensor): tensor t has sizes[t] >= 0 elements at params[t], grads[t] and
 * velocities[t] (NULL with momentum 0), and its first_step is first_steps[t] (PyTorch keeps
 * the momentum buffer per parameter). A tensor of size 0 is not touched: its pointers may be
 * NULL. A training step updates every parameter tensor of a model with it. */
void ck_sgd_tensors(int64_t count, const int64_t *sizes, float *const *params,
                    const float *const *grads, float *const *velocities, float lr,
                    float momentum, float dampening, float weight_decay, int nesterov,
                    int maximize, const int *first_steps);

/* Adam and AdamW, PyTorch's torch.optim.Adam and torch.optim.AdamW, for n parameters, in one
 * pass, at step t >= 1, with d = (maximize ? -grad : grad):
 *   AdamW (decoupled_weight_decay != 0):  g = d;  param = param * (1 - lr * weight_decay)
 *   Adam  (decoupled_weight_decay == 0):  g = d + weight_decay * param
 *   exp_avg    = beta1 * exp_avg    + (1 - beta1) * g
 *   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
 *   amsgrad (max_exp_avg_sq != NULL):  max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq), and
 *                                      s = max_exp_avg_sq;  otherwise s = exp_avg_sq
 *   param      = param - (lr / bias_correction1)
 *                        * exp_avg / (sqrt(s) / sqrt(bias_correction2) + eps)
 * where the caller passes bias_correction1 = 1 - beta1^t and bias_correction2 = 1 - beta2^t
 * (both > 0), in double as PyTorch computes them. exp_avg, exp_avg_sq and max_exp_avg_sq
 * start at zero; max is torch.maximum's (NaN if either is). maximize is 0 or not.
 * Rounded as PyTorch's default (single-tensor) step on a CPU with FMA, on every instruction
 * set and thread count: 1 - beta1, 1 - beta2, 1 - lr * weight_decay, -(lr / bias_correction1)
 * and bias_correction2 ** 0.5 computed in double and rounded to float; g = grad +
 * weight_decay * param in one rounding (not added for weight decay 0); exp_avg as lerp_:
 * exp_avg + (1 - beta1) * (g - exp_avg), the difference rounded, then one fused
 * multiply-add; exp_avg_sq as mul_ then addcmul_: (1 - beta2) * g and beta2 * exp_avg_sq
 * rounded, then one fused multiply-add; the denominator's square root, quotient and sum each
 * rounded; param + ((-step size) * exp_avg) / denominator, the product and quotient rounded;
 * -grad and the maximum are exact. The results are PyTorch's bits wherever its sqrt is
 * correctly rounded, as IEEE's is (on x86 PyTorch's CPU sqrt is MKL's, within 0.75 ulp).
 * Reads grad; reads and writes param, exp_avg, exp_avg_sq and max_exp_avg_sq (when not
 * NULL), which must not overlap each other or grad. */
void ck_adam(int64_t n, float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
             float *max_exp_avg_sq, float lr, float beta1, float beta2, float eps,
             float weight_decay, int maximize, int decoupled_weight_decay,
             double bias_correction1, double bias_correction2);

/* RMSprop, PyTorch's torch.optim.RMSprop, for n parameters, in one pass:
 *   g          = (maximize ? -grad : grad) + weight_decay * param
 *   square_avg = alpha * square_avg + (1 - alpha) * g * g
 *   centered (grad_avg != NULL):
 *     grad_avg = alpha * grad_avg + (1 - alpha) * g;   denom = sqrt(square_avg - grad_avg^2) + eps
 *   otherwise:                                          denom = sqrt(square_avg) + eps
 *   momentum > 0:  momentum_buffer = momentum * momentum_buffer + g / denom
 *                  param = param - lr * momentum_buffer
 *   otherwise:     param = param - lr * g / denom
 * square_avg, grad_avg and momentum_buffer start at zero. grad_avg is NULL for the plain
 * (uncentered) form; momentum_buffer is used only when momentum > 0 (then it must not be
 * NULL) and may be NULL otherwise. Rounded as PyTorch's default (single-tensor) step on a
 * CPU with FMA, on every instruction set and thread count, as ck_adam: g as Adam's, 1 - alpha
 * rounded from double, square_avg as Adam's exp_avg_sq and grad_avg as its exp_avg (lerp_);
 * square_avg - grad_avg^2 one fused multiply-add; the square root and + eps each rounded;
 * with momentum, (momentum * momentum_buffer) + (g / denom), each of the three rounded, and
 * param - lr * momentum_buffer one fused multiply-add; without, param + ((-lr) * g) / denom,
 * the product and quotient rounded. PyTorch's bits wherever its sqrt is correctly rounded, as
 * ck_adam's. maximize is 0 or not. Reads grad; reads and writes param and the buffers given,
 * none of which may overlap another or grad. */
void ck_rmsprop(int64_t n, float *param, const float *grad, float *square_avg, float *grad_avg,
                float *momentum_buffer, float lr, float alpha, float eps, float weight_decay,
                float momentum, int maximize);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_TRAINING_H */
