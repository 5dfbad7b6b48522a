/* Optimizer updates: one pass over the parameters per step. */
#include "ckernels.h"
#include "threading.h"

void ck_sgd_momentum(int64_t n, float *param, const float *grad, float *velocity, float lr,
                     float momentum, float weight_decay) {
    int threads = ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for simd num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = momentum * velocity[i] + (grad[i] + weight_decay * param[i]);
        velocity[i] = v;
        param[i] -= lr * v;
    }
}
