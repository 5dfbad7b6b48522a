/* Internal: the optimizers' updates of a block of a parameter matrix. The GEMM applies them a
 * block at a time, straight from the product that computes the block's gradient (ck_sgemm_sgd,
 * ck_sgemm_adam, ck_sgemm_rmsprop); ck_sgd, ck_adam and ck_rmsprop run the same functions on
 * a vector, as blocks of one row (optimizers.c): the bits are the same either way. */
#ifndef CK_PARAM_UPDATE_H
#define CK_PARAM_UPDATE_H

#include <math.h>
#include <stdint.h>

/* ck_sgd's arguments: param and velocity point at element (0, 0) of an m x n matrix whose
 * rows are `ld` floats apart (a vector: one row, ld unused). velocity is unused (may be NULL)
 * when momentum is 0. maximize != 0 steps along -grad (every optimizer's `maximize`). */
typedef struct {
    float *param;
    float *velocity;
    int64_t ld;
    float lr, momentum, dampening, weight_decay;
    int first_step, nesterov, maximize;
} ck_sgd_args;

static inline ck_sgd_args ck_sgd_arguments(float *param, float *velocity, int64_t ld, float lr,
                                           float momentum, float dampening, float weight_decay,
                                           int nesterov, int maximize, int first_step) {
    return (ck_sgd_args){.param = param, .velocity = velocity, .ld = ld, .lr = lr,
                         .momentum = momentum, .dampening = dampening,
                         .weight_decay = weight_decay, .first_step = first_step,
                         .nesterov = nesterov, .maximize = maximize};
}

/* ck_adam's arguments, as its loop uses them; param, exp_avg, exp_avg_sq and max_exp_avg_sq
 * as ck_sgd_args' param, max_exp_avg_sq NULL unless amsgrad. The scalars are PyTorch's: its
 * optimizer computes them in double (Python floats) and its kernels take each one rounded to
 * float. */
typedef struct {
    float *param;
    float *exp_avg, *exp_avg_sq, *max_exp_avg_sq;
    int64_t ld;
    int maximize;
    float exp_avg_weight;    /* 1 - beta1: exp_avg.lerp_(g, 1 - beta1) */
    float beta2;
    float exp_avg_sq_weight; /* 1 - beta2: exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2) */
    float eps;
    float l2;    /* weight decay added to the gradient (Adam), else 0 */
    float decay; /* param factor before the update: 1 - lr * wd (AdamW), else 1 */
    float neg_step_size;         /* -(lr / bias_correction1) */
    float bias_correction2_sqrt; /* bias_correction2 ** 0.5 */
} ck_adam_args;

static inline ck_adam_args ck_adam_arguments(float *param, float *exp_avg, float *exp_avg_sq,
                                             float *max_exp_avg_sq, int64_t ld, float lr,
                                             float beta1, float beta2, float eps,
                                             float weight_decay, int maximize,
                                             int decoupled_weight_decay, double bias_correction1,
                                             double bias_correction2) {
    return (ck_adam_args){
        .param = param, .exp_avg = exp_avg, .exp_avg_sq = exp_avg_sq,
        .max_exp_avg_sq = max_exp_avg_sq, .ld = ld, .maximize = maximize,
        .exp_avg_weight = (float)(1.0 - beta1), .beta2 = beta2,
        .exp_avg_sq_weight = (float)(1.0 - beta2), .eps = eps,
        .l2 = decoupled_weight_decay ? 0.0f : weight_decay,
        .decay = decoupled_weight_decay ? (float)(1.0 - (double)lr * weight_decay) : 1.0f,
        .neg_step_size = (float)-(lr / bias_correction1),
        /* pow, not sqrt: Python's ** 0.5 is C's pow. */
        .bias_correction2_sqrt = (float)pow(bias_correction2, 0.5)};
}

/* ck_rmsprop's arguments, as its loop uses them; grad_avg NULL unless centered,
 * momentum_buffer NULL unless momentum > 0. */
typedef struct {
    float *param;
    float *square_avg, *grad_avg, *momentum_buffer;
    int64_t ld;
    float lr, alpha, eps, weight_decay, momentum;
    float average_weight; /* 1 - alpha, rounded from double as PyTorch's */
    int maximize;
} ck_rmsprop_args;

/* momentum_buffer is dropped without momentum. */
static inline ck_rmsprop_args ck_rmsprop_arguments(float *param, float *square_avg,
                                                   float *grad_avg, float *momentum_buffer,
                                                   int64_t ld, float lr, float alpha, float eps,
                                                   float weight_decay, float momentum,
                                                   int maximize) {
    return (ck_rmsprop_args){
        .param = param, .square_avg = square_avg, .grad_avg = grad_avg,
        .momentum_buffer = momentum > 0.0f ? momentum_buffer : NULL, .ld = ld, .lr = lr,
        .alpha = alpha, .eps = eps, .weight_decay = weight_decay, .momentum = momentum,
        .average_weight = (float)(1.0 - alpha), .maximize = maximize};
}

/* An update of an m x n parameter matrix: block(args, row0, col0, rows, cols, grad, ldg)
 * updates its rows x cols block at (row0, col0) from that block's gradient at grad
 * (row-major, rows ldg floats apart). */
typedef void (*ck_param_update_block)(const void *args, int64_t row0, int64_t col0,
                                      int64_t rows, int64_t cols, const float *grad,
                                      int64_t ldg);
typedef struct {
    ck_param_update_block block;
    const void *args;
} ck_param_update;

/* The blocks of ck_sgd (args: a ck_sgd_args), ck_adam (a ck_adam_args) and ck_rmsprop (a
 * ck_rmsprop_args). Plain functions that call static multi-versioned ones (CK_VECTORIZED):
 * the GEMM takes their addresses, and where ld.gold links the kernels into a shared object,
 * the address of a global multi-versioned function is left 0 (a static one's is resolved). */
void ck_sgd_block(const void *args, int64_t row0, int64_t col0, int64_t rows, int64_t cols,
                  const float *grad, int64_t ldg);
void ck_adam_block(const void *args, int64_t row0, int64_t col0, int64_t rows, int64_t cols,
                   const float *grad, int64_t ldg);
void ck_rmsprop_block(const void *args, int64_t row0, int64_t col0, int64_t rows, int64_t cols,
                      const float *grad, int64_t ldg);

#endif
