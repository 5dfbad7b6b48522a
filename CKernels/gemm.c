/* The GEMM's entry points: C = alpha * op(A) * op(B) + beta * C (row-major), optionally
 * followed by the epilogue of ck_sgemm_bias_relu (bias per column, ReLU) or of
 * ck_sgemm_relu_backward (the ReLU's derivative as a mask; gemm_direct.h), or, for
 * ck_sgemm_sgd, ck_sgemm_adam and ck_sgemm_rmsprop, by the optimizer's update of the
 * parameters whose gradient the product is. Each call asks the plan (gemm_plan.h) for its
 * route on the current table and runs it. */
#include "gemm_broadcast.h"
#include "gemm_dot.h"
#include "gemm_plan.h"

/* The whole GEMM, then the epilogue e (NULL: none). Inlined into ck_sgemm with e == NULL,
 * so that the plain product tests nothing more than it must: a tiny product (the spiral's
 * 20x2x100, 4000 multiply-adds) does little more work than the call and the tests around it. */
static inline __attribute__((always_inline)) void
gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
     const ck_gemm_epilogue *e) {
    const ck_gemm_table *t = ck_gemm_current_table();
    const ck_gemm_operands g = {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                                .alpha = alpha, .beta = beta, .a = a, .b = b, .lda = lda,
                                .ldb = ldb, .ldc = ldc, .c = c, .epilogue = e};
    const ck_gemm_plan plan = ck_gemm_plan_for(t, ck_gemm_tiles_of(t), 0, &g);
    /* The routes out of line get a copy of g, made on their branch: g itself then never
     * needs an address, and the direct routes, inlined, read its fields from registers. */
    ck_gemm_operands copy;
    switch (plan.route) {
    case CK_GEMM_ROUTE_NOTHING: return;
    case CK_GEMM_ROUTE_SCALE:
        copy = g;
        ck_gemm_scale(t, &copy, plan.threads);
        return;
    case CK_GEMM_ROUTE_DOT: ck_gemm_dot(t, &g, plan.threads); return;
    case CK_GEMM_ROUTE_ROW_PANELS:
    case CK_GEMM_ROUTE_BROADCAST:
    case CK_GEMM_ROUTE_BROADCAST_TRANSPOSED: ck_gemm_broadcast(t, &g, plan); return;
    case CK_GEMM_ROUTE_PACKED:
    case CK_GEMM_ROUTE_PACKED_OWN_SLIVERS:
    case CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE:
    case CK_GEMM_ROUTE_PACKED_ALONG_ROWS:
        copy = g;
        ck_gemm_packed(t, &copy, plan);
        return;
    }
}

void ck_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc) {
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

void ck_sgemm_bias_relu(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc, const float *bias, int relu) {
    /* One bias per column of C. */
    const ck_gemm_epilogue e = {.bias = bias, .rs = 0, .cs = 1, .relu = relu != 0};
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
         bias != NULL || relu ? &e : NULL);
}

void ck_sgemm_relu_backward(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const float *a, int64_t lda, const float *b,
                            int64_t ldb, float beta, float *c, int64_t ldc, const float *y,
                            int64_t ldy) {
    const ck_gemm_epilogue e = {.mask = y, .mrs = ldy, .mcs = 1};
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &e);
}

/* The plan of a product that may update the parameters it is the gradient of, and whether
 * the update goes into it: where the plain product's route is a packed one with B~ shared, in
 * one k block (the packed route then takes the tiles along C's rows, each finished row panel
 * updating its parameters instead of being stored; gemm_packed.c). The elements are those
 * ck_sgemm would have stored, bit for bit (gemm_plan.h). */
static inline __attribute__((always_inline)) int
update_plan(const ck_gemm_table *t, const ck_gemm_operands *g, ck_gemm_plan *plan) {
    *plan = ck_gemm_plan_for(t, ck_gemm_tiles_of(t), 0, g);
    return (plan->route == CK_GEMM_ROUTE_PACKED ||
            plan->route == CK_GEMM_ROUTE_PACKED_ALONG_ROWS) &&
           g->k <= t->kc;
}

/* The operands of G = alpha * op(A) * op(B), dense, beta 0. */
static inline ck_gemm_operands gradient_operands(int trans_a, int trans_b, int64_t m, int64_t n,
                                                 int64_t k, float alpha, const float *a,
                                                 int64_t lda, const float *b, int64_t ldb,
                                                 float *grad) {
    return (ck_gemm_operands){.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                              .alpha = alpha, .beta = 0.0f, .a = a, .b = b, .lda = lda,
                              .ldb = ldb, .ldc = n, .c = grad};
}

int ck_sgemm_takes_step(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k) {
    const ck_gemm_operands g =
        gradient_operands(trans_a, trans_b, m, n, k, 1.0f, NULL, 1, NULL, 1, NULL);
    ck_gemm_plan plan;
    return update_plan(ck_gemm_current_table(), &g, &plan);
}

/* G = alpha * op(A) * op(B) with `update` in the product where update_plan allows it
 * (returns 1), else G stored in grad (returns 0). */
static int gemm_updating(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float *grad,
                         const ck_param_update *update) {
    const ck_gemm_table *t = ck_gemm_current_table();
    ck_gemm_operands g = gradient_operands(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, grad);
    ck_gemm_plan plan;
    if (update_plan(t, &g, &plan)) {
        g.update = update;
        ck_gemm_packed(t, &g, plan);
        return 1;
    }
    /* Elsewhere G is stored, for the caller's step. */
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, 0.0f, grad, n, NULL);
    return 0;
}

int ck_sgemm_sgd(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float *grad,
                 float *param, float *velocity, float lr, float momentum, float dampening,
                 float weight_decay, int nesterov, int maximize, int first_step) {
    const ck_sgd_args args = ck_sgd_arguments(param, velocity, n, lr, momentum, dampening,
                                              weight_decay, nesterov, maximize, first_step);
    const ck_param_update update = {ck_sgd_block, &args};
    return gemm_updating(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, grad, &update);
}

int ck_sgemm_adam(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float *grad,
                  float *param, float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                  float lr, float beta1, float beta2, float eps, float weight_decay,
                  int maximize, int decoupled_weight_decay, double bias_correction1,
                  double bias_correction2) {
    const ck_adam_args args = ck_adam_arguments(param, exp_avg, exp_avg_sq, max_exp_avg_sq, n, lr,
                                                beta1, beta2, eps, weight_decay, maximize,
                                                decoupled_weight_decay, bias_correction1,
                                                bias_correction2);
    const ck_param_update update = {ck_adam_block, &args};
    return gemm_updating(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, grad, &update);
}

int ck_sgemm_rmsprop(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha_ab,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float *grad,
                     float *param, float *square_avg, float *grad_avg, float *momentum_buffer,
                     float lr, float alpha, float eps, float weight_decay, float momentum,
                     int maximize) {
    const ck_rmsprop_args args = ck_rmsprop_arguments(param, square_avg, grad_avg,
                                                      momentum_buffer, n, lr, alpha, eps,
                                                      weight_decay, momentum, maximize);
    const ck_param_update update = {ck_rmsprop_block, &args};
    return gemm_updating(trans_a, trans_b, m, n, k, alpha_ab, a, lda, b, ldb, grad, &update);
}
