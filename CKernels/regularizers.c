/* Regularizers: L1 and L2 penalties on parameters, added to the loss and to the gradients. */
#include "ckernels.h"
#include "threading.h"

typedef struct {
    const float *param;
    float *grad;
    float l1, l2;
} penalty_args;

/* Elements [begin, end): their gradients, and the sum of their penalties in order. */
static double penalty_range(const void *args, int64_t begin, int64_t end) {
    const penalty_args *a = args;
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++) {
        float p = a->param[i];
        float sign = (float)(p > 0.0f) - (float)(p < 0.0f);
        a->grad[i] += a->l1 * sign + 2.0f * a->l2 * p;
        sum += (double)a->l1 * (double)(p * sign) + (double)a->l2 * (double)p * (double)p;
    }
    return sum;
}

double ck_penalty(int64_t n, const float *param, float *grad, float l1, float l2) {
    penalty_args args = {param, grad, l1, l2};
    return ck_parallel_sum(n, 1024, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), penalty_range,
                           &args);
}
