/* Optimizer updates: one pass over the parameters per step. */
#include <math.h>
#include <stddef.h>

#include "ckernels.h"
#include "param_update.h"
#include "threading.h"

/* Runs a kernel's range function over n elements, in parallel when n pays for it. */
static void run_update(int64_t n, ck_range_body body, const void *args) {
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), body, args);
}

/* ---- SGD ------------------------------------------------------------------------------ */

/* ck_sgd on n elements: param, grad and velocity point at the first. with_buffer is a
 * compile-time constant in each copy sgd_run inlines: 0 for plain SGD (momentum 0), whose
 * step is g and which neither reads nor writes velocity. */
static inline __attribute__((always_inline)) void sgd_loop(const ck_sgd_args *a, float *param,
                                                           const float *grad, float *velocity,
                                                           int64_t n, int with_buffer) {
    float *restrict p_out = param, *restrict v_out = velocity;
    const float *restrict g_in = grad;
    /* The arguments in locals and param[i] read once: the stores through param and velocity
     * would otherwise make the compiler reload them on every iteration. */
    const float lr = a->lr, weight_decay = a->weight_decay, momentum = a->momentum,
                keep_grad = 1.0f - a->dampening;
    const int first_step = a->first_step, nesterov = a->nesterov;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float p = p_out[i];
        const float g = g_in[i] + weight_decay * p;
        float direction = g;
        if (with_buffer) {
            const float b = first_step ? g : momentum * v_out[i] + keep_grad * g;
            v_out[i] = b;
            direction = nesterov ? g + momentum * b : b;
        }
        p_out[i] = p - lr * direction;
    }
}

/* sgd_loop on the n elements of a's param (and velocity) from element `at`, their gradient
 * at grad: one of its two copies (velocity is not even offset without momentum: it may be
 * NULL). Inlined into each function below, so that every clone (CK_VECTORIZED) of ck_sgd and
 * of ck_sgd_block runs the same operations on each element. */
static inline __attribute__((always_inline)) void sgd_run(const ck_sgd_args *a, int64_t at,
                                                          const float *grad, int64_t n) {
    if (a->momentum == 0.0f)
        sgd_loop(a, a->param + at, grad, NULL, n, 0);
    else
        sgd_loop(a, a->param + at, grad, a->velocity + at, n, 1);
}

CK_VECTORIZED static void sgd_range(const void *args, int64_t begin, int64_t end) {
    const ck_sgd_args *a = args;
    sgd_run(a, begin, a->grad + begin, end - begin);
}

CK_VECTORIZED void ck_sgd_block(const void *args, int64_t row0, int64_t col0, int64_t rows,
                                int64_t cols, const float *grad, int64_t ldg) {
    const ck_sgd_args *u = args;
    for (int64_t i = 0; i < rows; i++) sgd_run(u, (row0 + i) * u->ld + col0, grad + i * ldg, cols);
}

/* Several tensors as one index range: tensor t holds elements [offset_t, offset_t + sizes[t])
 * of it, in order. */
typedef struct {
    int64_t count;
    const int64_t *sizes;
    float *const *params;
    const float *const *grads;
    float *const *velocities;
    ck_sgd_args scalars; /* the pointers unset */
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
        tensor.grad = a->grads[t];
        tensor.velocity = a->velocities[t];
        sgd_range(&tensor, lo, hi);
    }
}

void ck_sgd_tensors(int64_t count, const int64_t *sizes, float *const *params,
                    const float *const *grads, float *const *velocities, float lr,
                    float momentum, float dampening, float weight_decay, int nesterov,
                    int first_step) {
    sgd_tensors_args args = {count, sizes, params, grads, velocities,
                             ck_sgd_settings(lr, momentum, dampening, weight_decay, nesterov,
                                             first_step)};
    int64_t total = 0;
    for (int64_t t = 0; t < count; t++) total += sizes[t];
    run_update(total, sgd_tensors_range, &args);
}

void ck_sgd(int64_t n, float *param, const float *grad, float *velocity, float lr,
            float momentum, float dampening, float weight_decay, int nesterov, int first_step) {
    ck_sgd_tensors(1, &n, &param, &grad, &velocity, lr, momentum, dampening, weight_decay,
                   nesterov, first_step);
}

void ck_sgd_momentum(int64_t n, float *param, const float *grad, float *velocity, float lr,
                     float momentum, float weight_decay) {
    ck_sgd(n, param, grad, velocity, lr, momentum, 0.0f, weight_decay, 0, 0);
}

/* ---- Adam and AdamW -------------------------------------------------------------------- */

/* ck_adam on the n elements of a's param and moments from element `at`, their gradient at
 * grad. Inlined into each function below, so that every clone (CK_VECTORIZED) of ck_adam and
 * of ck_adam_block runs the same operations on each element. */
static inline __attribute__((always_inline)) void adam_run(const ck_adam_args *a, int64_t at,
                                                           const float *grad_in, int64_t n) {
    float *restrict param = a->param + at, *restrict m = a->exp_avg + at,
                    *restrict v = a->exp_avg_sq + at;
    const float *restrict grad = grad_in;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float p = param[i];
        float g = grad[i] + a->l2 * p;
        float mi = a->beta1 * m[i] + (1.0f - a->beta1) * g;
        float vi = a->beta2 * v[i] + (1.0f - a->beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        /* __builtin_elementwise_sqrt: sqrtf without errno, so that the loop vectorizes. */
        float denom = __builtin_elementwise_sqrt(vi) / a->bias_correction2_sqrt + a->eps;
        param[i] = p * a->decay - a->step_size * (mi / denom);
    }
}

CK_VECTORIZED static void adam_range(const void *args, int64_t begin, int64_t end) {
    const ck_adam_args *a = args;
    adam_run(a, begin, a->grad + begin, end - begin);
}

CK_VECTORIZED void ck_adam_block(const void *args, int64_t row0, int64_t col0, int64_t rows,
                                 int64_t cols, const float *grad, int64_t ldg) {
    const ck_adam_args *u = args;
    for (int64_t i = 0; i < rows; i++)
        adam_run(u, (row0 + i) * u->ld + col0, grad + i * ldg, cols);
}

void ck_adam(int64_t n, float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
             float lr, float beta1, float beta2, float eps, float weight_decay,
             int decoupled_weight_decay, float bias_correction1, float bias_correction2) {
    const ck_adam_args args = ck_adam_arguments(param, grad, exp_avg, exp_avg_sq, 0, lr, beta1,
                                                beta2, eps, weight_decay, decoupled_weight_decay,
                                                bias_correction1, bias_correction2);
    run_update(n, adam_range, &args);
}

/* ---- RMSprop --------------------------------------------------------------------------- */

/* The loop on n elements, param, grad and the buffers pointing at the first, with `centered`
 * and `with_momentum` compile-time constants in each copy rmsprop_run inlines, so that no
 * copy touches a buffer it was not given. */
static inline __attribute__((always_inline)) void
rmsprop_loop(const ck_rmsprop_args *a, float *param_out, const float *grad_in,
             float *square_avg_out, float *grad_avg_out, float *buffer_out, int64_t n,
             int centered, int with_momentum) {
    float *restrict param = param_out, *restrict square_avg = square_avg_out;
    float *restrict grad_avg = grad_avg_out, *restrict buffer = buffer_out;
    const float *restrict grad = grad_in;
    const float alpha = a->alpha;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + a->weight_decay * param[i];
        float v = alpha * square_avg[i] + (1.0f - alpha) * g * g;
        square_avg[i] = v;
        if (centered) {
            float mean = alpha * grad_avg[i] + (1.0f - alpha) * g;
            grad_avg[i] = mean;
            v -= mean * mean;
        }
        float step = g / (__builtin_elementwise_sqrt(v) + a->eps);
        if (with_momentum) {
            step += a->momentum * buffer[i];
            buffer[i] = step;
        }
        param[i] -= a->lr * step;
    }
}

/* rmsprop_loop on the n elements of a's param and buffers from element `at`, their gradient
 * at grad (a buffer a does not have is not offset: it is NULL). Inlined into each function
 * below, so that every clone (CK_VECTORIZED) of ck_rmsprop and of ck_rmsprop_block runs the
 * same operations on each element. */
static inline __attribute__((always_inline)) void rmsprop_run(const ck_rmsprop_args *a,
                                                              int64_t at, const float *grad,
                                                              int64_t n) {
    float *const param = a->param + at, *const square_avg = a->square_avg + at;
    if (a->grad_avg != NULL) {
        float *const grad_avg = a->grad_avg + at;
        if (a->momentum_buffer != NULL)
            rmsprop_loop(a, param, grad, square_avg, grad_avg, a->momentum_buffer + at, n, 1, 1);
        else
            rmsprop_loop(a, param, grad, square_avg, grad_avg, NULL, n, 1, 0);
    } else if (a->momentum_buffer != NULL) {
        rmsprop_loop(a, param, grad, square_avg, NULL, a->momentum_buffer + at, n, 0, 1);
    } else {
        rmsprop_loop(a, param, grad, square_avg, NULL, NULL, n, 0, 0);
    }
}

CK_VECTORIZED static void rmsprop_range(const void *args, int64_t begin, int64_t end) {
    const ck_rmsprop_args *a = args;
    rmsprop_run(a, begin, a->grad + begin, end - begin);
}

CK_VECTORIZED void ck_rmsprop_block(const void *args, int64_t row0, int64_t col0, int64_t rows,
                                    int64_t cols, const float *grad, int64_t ldg) {
    const ck_rmsprop_args *u = args;
    for (int64_t i = 0; i < rows; i++)
        rmsprop_run(u, (row0 + i) * u->ld + col0, grad + i * ldg, cols);
}

void ck_rmsprop(int64_t n, float *param, const float *grad, float *square_avg, float *grad_avg,
                float *momentum_buffer, float lr, float alpha, float eps, float weight_decay,
                float momentum) {
    const ck_rmsprop_args args =
        ck_rmsprop_arguments(param, grad, square_avg, grad_avg, momentum_buffer, 0, lr, alpha,
                             eps, weight_decay, momentum);
    run_update(n, rmsprop_range, &args);
}
