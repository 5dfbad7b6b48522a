/* Optimizer updates: one pass over the parameters per step. */
#include "ckernels.h"
#include "threading.h"

typedef struct {
    float *param;
    const float *grad;
    float *velocity;
    float lr, momentum, weight_decay;
} sgd_momentum_args;

CK_VECTORIZED static void sgd_momentum_range(const void *args, int64_t begin, int64_t end) {
    const sgd_momentum_args *a = args;
    float *restrict param = a->param, *restrict velocity = a->velocity;
    const float *restrict grad = a->grad;
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
        float v = a->momentum * velocity[i] + (grad[i] + a->weight_decay * param[i]);
        velocity[i] = v;
        param[i] -= a->lr * v;
    }
}

void ck_sgd_momentum(int64_t n, float *param, const float *grad, float *velocity, float lr,
                     float momentum, float weight_decay) {
    sgd_momentum_args args = {param, grad, velocity, lr, momentum, weight_decay};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), sgd_momentum_range,
                    &args);
}
