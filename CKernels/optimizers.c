/* Optimizer updates: one pass over the parameters per step, rounded as PyTorch's
 * single-tensor steps (its default on the CPU) round on a CPU with FMA. Compiled without
 * contracting a * b + c into a fused multiply-add (FP_CONTRACT OFF), so that every
 * instruction-set clone computes the same bits; where PyTorch's kernels fuse, the
 * multiply-add is written out (fmaf). */
#pragma STDC FP_CONTRACT OFF

#include <math.h>
#include <stddef.h>

#include "ckernels.h"
#include "param_update.h"
#include "threading.h"

/* Runs a range function over n elements, in parallel when n pays for it. */
static void run_range(int64_t n, ck_range_body body, const void *args) {
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), body, args);
}

/* An optimizer's update of a vector, its elements a block of one row, as a range function:
 * elements [begin, end) of the parameters and of their gradient. */
typedef struct {
    ck_param_update_block block;
    const void *args;
    const float *grad;
} vector_update;

static void vector_update_range(const void *args, int64_t begin, int64_t end) {
    const vector_update *v = args;
    v->block(v->args, 0, begin, 1, end - begin, v->grad + begin, 0);
}

/* block's update of n parameters from their gradient at grad, in parallel when n pays for
 * it. */
static void run_update(int64_t n, ck_param_update_block block, const void *args,
                       const float *grad) {
    const vector_update v = {block, args, grad};
    run_range(n, vector_update_range, &v);
}

/* ---- PyTorch's element-wise operations, as its CPU kernels round them ------------------ */

/* The gradient a step follows: -grad when maximizing (PyTorch's first operation; exact). */
static inline float step_gradient(float grad, int maximize) { return maximize ? -grad : grad; }

/* grad.add(param, alpha=weight_decay): one rounding; the gradient itself for weight decay 0,
 * which PyTorch's optimizers do not add (so an infinite param gives no NaN). */
static inline float plus_weight_decay(float grad, float weight_decay, float param) {
    return weight_decay != 0.0f ? fmaf(weight_decay, param, grad) : grad;
}

/* start.lerp_(end, weight): the difference end - start rounded, then one multiply-add, from
 * start for |weight| < 0.5, else from end (start + weight * d = end - (1 - weight) * d). */
static inline float lerp(float start, float end, float weight) {
    const float difference = end - start;
    return fabsf(weight) < 0.5f ? fmaf(weight, difference, start)
                                : fmaf(weight - 1.0f, difference, end);
}

/* average.mul_(keep).addcmul_(g, g, value=weight): the products average * keep and
 * weight * g rounded, then one multiply-add. */
static inline float average_of_squares(float average, float keep, float g, float weight) {
    return fmaf(weight * g, g, average * keep);
}

/* ---- SGD ------------------------------------------------------------------------------ */

/* ck_sgd on n elements: param, grad and velocity point at the first (grad negated first when
 * maximizing). with_buffer is a compile-time constant in each copy sgd_block inlines: 0 for
 * plain SGD (momentum 0), whose step is g and which neither reads nor writes velocity.
 * Rounded as PyTorch's steps on a CPU with FMA: each add(x, alpha=a) of theirs is one
 * fmaf(a, x, y) here (g = grad + weight_decay * param, not added for weight decay 0;
 * velocity = momentum * velocity + (1 - dampening) * g after the product momentum * velocity
 * is rounded on its own; Nesterov's g + momentum * velocity; param - lr * direction). */
static inline __attribute__((always_inline)) void sgd_loop(const ck_sgd_args *a, float *param,
                                                           const float *grad, float *velocity,
                                                           int64_t n, int with_buffer) {
    float *restrict p_out = param, *restrict v_out = velocity;
    const float *restrict g_in = grad;
    /* The arguments in locals and param[i] read once: the stores through param and velocity
     * would otherwise make the compiler reload them on every iteration. */
    const float lr = a->lr, weight_decay = a->weight_decay, momentum = a->momentum,
                keep_grad = 1.0f - a->dampening;
    const int first_step = a->first_step, nesterov = a->nesterov, maximize = a->maximize;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float p = p_out[i];
        const float g = plus_weight_decay(step_gradient(g_in[i], maximize), weight_decay, p);
        float direction = g;
        if (with_buffer) {
            const float kept = momentum * v_out[i];
            const float b = first_step ? g : fmaf(keep_grad, g, kept);
            v_out[i] = b;
            direction = nesterov ? fmaf(momentum, b, g) : b;
        }
        p_out[i] = fmaf(-lr, direction, p);
    }
}

CK_VECTORIZED_FMA static void sgd_block(const void *args, int64_t row0, int64_t col0,
                                        int64_t rows, int64_t cols, const float *grad,
                                        int64_t ldg) {
    const ck_sgd_args *u = args;
    for (int64_t i = 0; i < rows; i++) {
        float *const param = u->param + (row0 + i) * u->ld + col0;
        /* Without momentum, velocity is not even offset: it may be NULL. */
        if (u->momentum == 0.0f)
            sgd_loop(u, param, grad + i * ldg, NULL, cols, 0);
        else
            sgd_loop(u, param, grad + i * ldg, u->velocity + (row0 + i) * u->ld + col0, cols, 1);
    }
}

void ck_sgd_block(const void *args, int64_t row0, int64_t col0, int64_t rows, int64_t cols,
                  const float *grad, int64_t ldg) {
    sgd_block(args, row0, col0, rows, cols, grad, ldg);
}

/* Several tensors as one index range: tensor t holds elements [offset_t, offset_t + sizes[t])
 * of it, in order. */
typedef struct {
    int64_t count;
    const int64_t *sizes;
    float *const *params;
    const float *const *grads;
    float *const *velocities;
    const int *first_steps;
    ck_sgd_args scalars; /* the pointers and first_step unset */
} sgd_tensors_args;

/* Elements [begin, end) of the tensors' joint range: the part of each tensor within it. */
static void sgd_tensors_range(const void *args, int64_t begin, int64_t end) {
    const sgd_tensors_args *a = args;
    int64_t offset = 0;
    for (int64_t t = 0; t < a->count && offset < end; offset += a->sizes[t], t++) {
        const int64_t lo = begin > offset ? begin - offset : 0;
        const int64_t hi = end - offset < a->sizes[t] ? end - offset : a->sizes[t];
        if (lo >= hi) continue;
        ck_sgd_args tensor = a->scalars;
        tensor.param = a->params[t];
        tensor.velocity = a->velocities[t];
        tensor.first_step = a->first_steps[t];
        sgd_block(&tensor, 0, lo, 1, hi - lo, a->grads[t] + lo, 0);
    }
}

void ck_sgd_tensors(int64_t count, const int64_t *sizes, float *const *params,
                    const float *const *grads, float *const *velocities, float lr,
                    float momentum, float dampening, float weight_decay, int nesterov,
                    int maximize, const int *first_steps) {
    sgd_tensors_args args = {count, sizes, params, grads, velocities, first_steps,
                             ck_sgd_arguments(NULL, NULL, 0, lr, momentum, dampening,
                                              weight_decay, nesterov, maximize, 0)};
    int64_t total = 0;
    for (int64_t t = 0; t < count; t++) total += sizes[t];
    run_range(total, sgd_tensors_range, &args);
}

void ck_sgd(int64_t n, float *param, const float *grad, float *velocity, float lr,
            float momentum, float dampening, float weight_decay, int nesterov, int maximize,
            int first_step) {
    ck_sgd_tensors(1, &n, &param, &grad, &velocity, lr, momentum, dampening, weight_decay,
                   nesterov, maximize, &first_step);
}

/* ---- Adam and AdamW -------------------------------------------------------------------- */

/* torch.maximum(a, b): NaN when either is. */
static inline float maximum(float a, float b) { return a != a || a > b ? a : b; }

/* ck_adam's loop on n elements, param, grad and the moments pointing at the first, with
 * `amsgrad` a compile-time constant in each copy adam_block inlines (max_exp_avg_sq is
 * touched only with it): PyTorch's _single_tensor_adam, its steps one element at a time. */
static inline __attribute__((always_inline)) void
adam_loop(const ck_adam_args *a, float *param_out, const float *grad_in, float *exp_avg_out,
          float *exp_avg_sq_out, float *max_exp_avg_sq_out, int64_t n, int amsgrad) {
    float *restrict param = param_out, *restrict m = exp_avg_out, *restrict v = exp_avg_sq_out;
    float *restrict v_max = max_exp_avg_sq_out;
    const float *restrict grad = grad_in;
    const int maximize = a->maximize;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float p = param[i] * a->decay; /* param.mul_(1 - lr * wd), AdamW */
        const float g = plus_weight_decay(step_gradient(grad[i], maximize), a->l2, p);
        const float mi = lerp(m[i], g, a->exp_avg_weight);
        const float vi = average_of_squares(v[i], a->beta2, g, a->exp_avg_sq_weight);
        m[i] = mi;
        v[i] = vi;
        /* amsgrad: torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq), which the
         * denominator then uses in place of exp_avg_sq. */
        float v_denom = vi;
        if (amsgrad) {
            v_denom = maximum(v_max[i], vi);
            v_max[i] = v_denom;
        }
        /* (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps), correctly rounded
         * (__builtin_elementwise_sqrt: sqrtf without errno, so that the loop vectorizes);
         * then param.addcdiv_(exp_avg, denom, value=-step_size): the product and the
         * quotient each rounded. */
        const float denom = __builtin_elementwise_sqrt(v_denom) / a->bias_correction2_sqrt + a->eps;
        param[i] = p + a->neg_step_size * mi / denom;
    }
}

/* adam_loop on each row of the rows x cols block at (row0, col0) of the ck_adam_args'
 * matrices, in the copy for amsgrad when they have its buffer. */
CK_VECTORIZED_FMA static void adam_block(const void *args, int64_t row0, int64_t col0,
                                         int64_t rows, int64_t cols, const float *grad_block,
                                         int64_t ldg) {
    const ck_adam_args *a = args;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t at = (row0 + r) * a->ld + col0;
        float *const param = a->param + at, *const m = a->exp_avg + at, *const v = a->exp_avg_sq + at;
        const float *const grad = grad_block + r * ldg;
        if (a->max_exp_avg_sq != NULL)
            adam_loop(a, param, grad, m, v, a->max_exp_avg_sq + at, cols, 1);
        else
            adam_loop(a, param, grad, m, v, NULL, cols, 0);
    }
}

void ck_adam_block(const void *args, int64_t row0, int64_t col0, int64_t rows, int64_t cols,
                   const float *grad, int64_t ldg) {
    adam_block(args, row0, col0, rows, cols, grad, ldg);
}

void ck_adam(int64_t n, float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
             float *max_exp_avg_sq, float lr, float beta1, float beta2, float eps,
             float weight_decay, int maximize, int decoupled_weight_decay,
             double bias_correction1, double bias_correction2) {
    const ck_adam_args args = ck_adam_arguments(param, exp_avg, exp_avg_sq, max_exp_avg_sq, 0, lr,
                                                beta1, beta2, eps, weight_decay, maximize,
                                                decoupled_weight_decay, bias_correction1,
                                                bias_correction2);
    run_update(n, adam_block, &args, grad);
}

/* ---- RMSprop --------------------------------------------------------------------------- */

/* The loop on n elements, param, grad and the buffers pointing at the first, with `centered`
 * and `with_momentum` compile-time constants in each copy rmsprop_block inlines, so that
 * no copy touches a buffer it was not given: PyTorch's _single_tensor_rmsprop, its steps one
 * element at a time. */
static inline __attribute__((always_inline)) void
rmsprop_loop(const ck_rmsprop_args *a, float *param_out, const float *grad_in,
             float *square_avg_out, float *grad_avg_out, float *buffer_out, int64_t n,
             int centered, int with_momentum) {
    float *restrict param = param_out, *restrict square_avg = square_avg_out;
    float *restrict grad_avg = grad_avg_out, *restrict buffer = buffer_out;
    const float *restrict grad = grad_in;
    const float alpha = a->alpha, weight = a->average_weight;
    const int maximize = a->maximize;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float p = param[i];
        const float g = plus_weight_decay(step_gradient(grad[i], maximize), a->weight_decay, p);
        const float v = average_of_squares(square_avg[i], alpha, g, weight);
        square_avg[i] = v;
        float variance = v;
        if (centered) {
            const float mean = lerp(grad_avg[i], g, weight);
            grad_avg[i] = mean;
            variance = fmaf(-mean, mean, v); /* square_avg.addcmul(grad_avg, grad_avg, value=-1) */
        }
        /* sqrt (correctly rounded) .add_(eps) */
        const float denom = __builtin_elementwise_sqrt(variance) + a->eps;
        if (with_momentum) {
            /* buf.mul_(momentum).addcdiv_(g, denom); param.add_(buf, alpha=-lr) */
            const float b = buffer[i] * a->momentum + g / denom;
            buffer[i] = b;
            param[i] = fmaf(-a->lr, b, p);
        } else {
            param[i] = p + -a->lr * g / denom; /* param.addcdiv_(g, denom, value=-lr) */
        }
    }
}

/* rmsprop_loop on each row of the block, in the copy for the buffers the ck_rmsprop_args have
 * (a buffer they do not have is not offset: it is NULL). */
CK_VECTORIZED_FMA static void rmsprop_block(const void *args, int64_t row0, int64_t col0,
                                            int64_t rows, int64_t cols,
                                            const float *grad_block, int64_t ldg) {
    const ck_rmsprop_args *a = args;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t at = (row0 + r) * a->ld + col0;
        float *const param = a->param + at, *const square_avg = a->square_avg + at;
        const float *const grad = grad_block + r * ldg;
        float *const buffer = a->momentum_buffer != NULL ? a->momentum_buffer + at : NULL;
        if (a->grad_avg != NULL) {
            if (buffer != NULL)
                rmsprop_loop(a, param, grad, square_avg, a->grad_avg + at, buffer, cols, 1, 1);
            else
                rmsprop_loop(a, param, grad, square_avg, a->grad_avg + at, NULL, cols, 1, 0);
        } else if (buffer != NULL) {
            rmsprop_loop(a, param, grad, square_avg, NULL, buffer, cols, 0, 1);
        } else {
            rmsprop_loop(a, param, grad, square_avg, NULL, NULL, cols, 0, 0);
        }
    }
}

void ck_rmsprop_block(const void *args, int64_t row0, int64_t col0, int64_t rows, int64_t cols,
                      const float *grad, int64_t ldg) {
    rmsprop_block(args, row0, col0, rows, cols, grad, ldg);
}

void ck_rmsprop(int64_t n, float *param, const float *grad, float *square_avg, float *grad_avg,
                float *momentum_buffer, float lr, float alpha, float eps, float weight_decay,
                float momentum, int maximize) {
    const ck_rmsprop_args args = ck_rmsprop_arguments(param, square_avg, grad_avg,
                                                      momentum_buffer, 0, lr, alpha, eps,
                                                      weight_decay, momentum, maximize);
    run_update(n, rmsprop_block, &args, grad);
}
