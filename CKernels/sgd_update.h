/* Internal: ck_sgd's update as the GEMM applies it to a parameter matrix, a block at a time,
 * straight from the product that computes the block's gradient (ck_sgemm_sgd). Defined in
 * optimizers.c beside ck_sgd, from the same loop: the bits are ck_sgd's. */
#ifndef CK_SGD_UPDATE_H
#define CK_SGD_UPDATE_H

#include <stdint.h>

/* ck_sgd's arguments: for the matrix form, param and velocity point at element (0, 0) of an
 * m x n matrix whose rows are `ld` floats apart, and grad is unset. velocity is unused (may
 * be NULL) when momentum is 0. */
typedef struct {
    float *param;
    const float *grad;
    float *velocity;
    int64_t ld;
    float lr, momentum, dampening, weight_decay;
    int first_step, nesterov;
} ck_sgd_args;

/* ck_sgd's scalar arguments, pointers unset. */
static inline ck_sgd_args ck_sgd_settings(float lr, float momentum, float dampening,
                                          float weight_decay, int nesterov, int first_step) {
    return (ck_sgd_args){.lr = lr, .momentum = momentum, .dampening = dampening,
                         .weight_decay = weight_decay, .first_step = first_step,
                         .nesterov = nesterov};
}

/* ck_sgd on the rows x cols block of the matrix u at (row0, col0), its gradient the block at
 * grad (row-major, rows ldg floats apart): the bits of ck_sgd on those elements. */
void ck_sgd_block(const ck_sgd_args *u, int64_t row0, int64_t col0, int64_t rows,
                  int64_t cols, const float *grad, int64_t ldg);

#endif
