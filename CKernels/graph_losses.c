/* Log-softmax and binary cross-entropy on logits for the graph (softmax, softmax
 * cross-entropy and squared error are losses.c's). */
#include "ckernels.h"
#include "threading.h"
#include "vector_math.h"

#include <math.h>

/* ---- log-softmax: rows are independent ------------------------------------------------- */

typedef struct {
    int64_t classes;
    int accumulate;
    const float *x, *dy;
    float *y;
} log_softmax_args;

/* y = (z - max) - log(sum over j of exp(z_j - max)), each row from its maximum, the sum in
 * order, in double. */
static void log_softmax_rows(const void *args, int64_t begin, int64_t end) {
    const log_softmax_args *a = args;
    const int64_t classes = a->classes;
    for (int64_t i = begin; i < end; i++) {
        const float *z = a->x + i * classes;
        float *y = a->y + i * classes;
        float max = z[0];
        for (int64_t j = 1; j < classes; j++)
            if (z[j] > max) max = z[j];
        double sum = 0.0; /* in order, in double */
        for (int64_t j = 0; j < classes; j++) sum += (double)exp_nonpositive(z[j] - max);
        float log_sum = log_positive((float)sum);
        /* (z - max) first: exact for z near max, so large logits lose no digits. */
        for (int64_t j = 0; j < classes; j++) y[j] = (z[j] - max) - log_sum;
    }
}

void ck_log_softmax(int64_t rows, int64_t classes, const float *x, float *y) {
    log_softmax_args args = {classes, 0, x, 0, y};
    ck_parallel_for(rows, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    log_softmax_rows, &args);
}

/* dx = dy - exp(y) * (sum over the row of dy, in order, in double), from the output y; here
 * args->y is dx. */
static void log_softmax_backward_rows(const void *args, int64_t begin, int64_t end) {
    const log_softmax_args *a = args;
    const int64_t classes = a->classes;
    for (int64_t i = begin; i < end; i++) {
        const float *y = a->x + i * classes, *dy = a->dy + i * classes;
        float *dx = a->y + i * classes;
        double row_sum = 0.0; /* in order, in double */
        for (int64_t j = 0; j < classes; j++) row_sum += (double)dy[j];
        const float sum = (float)row_sum;
        for (int64_t j = 0; j < classes; j++) {
            float g = dy[j] - exp_nonpositive(y[j]) * sum;
            dx[j] = a->accumulate ? dx[j] + g : g;
        }
    }
}

void ck_log_softmax_backward(int64_t rows, int64_t classes, const float *y, const float *dy,
                             int accumulate, float *dx) {
    if (classes == 0) return; /* no elements: form no pointer from y, dy or dx */
    log_softmax_args args = {classes, accumulate, y, dy, dx};
    ck_parallel_for(rows, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    log_softmax_backward_rows, &args);
}

/* ---- binary cross-entropy on logits ---------------------------------------------------- */

typedef struct {
    int64_t n;
    const float *z, *t;
    float *dz, *dt;
} bce_args;

/* Elements [begin, end): their gradients, and the sum of their losses
 * max(z, 0) - z t + log(1 + exp(-|z|)) in order. */
static double bce_range(const void *args, int64_t begin, int64_t end) {
    const bce_args *a = args;
    const float scale = 1.0f / (float)a->n;
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++) {
        float z = a->z[i], t = a->t[i];
        float e = expf(-fabsf(z));
        sum += (double)((z > 0.0f ? z : 0.0f) - z * t + log1pf(e));
        if (a->dz) {
            float sigmoid = (z >= 0.0f ? 1.0f : e) / (1.0f + e);
            a->dz[i] = (sigmoid - t) * scale;
        }
        if (a->dt) a->dt[i] = -z * scale;
    }
    return sum;
}

float ck_binary_cross_entropy_logits(int64_t n, const float *z, const float *t, float *dz,
                                     float *dt) {
    bce_args args = {n, z, t, dz, dt};
    double total = ck_parallel_sum(n, 1024, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS),
                                   bce_range, &args);
    return (float)(total / (double)n);
}
