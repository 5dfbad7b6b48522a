/* Binary cross-entropy on logits for the graph (softmax and log-softmax are softmax.c's,
 * softmax cross-entropy and squared error losses.c's). */
#include "ckernels.h"
#include "threading.h"

#include <math.h>

/* ---- binary cross-entropy on logits ---------------------------------------------------- */

typedef struct {
    int64_t n;
    const float *z, *t;
    float *dz, *dt;
} bce_args;

/* The loss max(z, 0) - z t + log(1 + exp(-|z|)) of a logit z and target t. For an infinite
 * z that formula is inf - inf or inf * 0 where its limit is not: the limit is |z| times the
 * weight of the other class, (1 - t) for z = +inf and t for z = -inf, and 0 where that
 * weight is 0. */
static inline float bce_loss(float z, float t, float e) {
    if (isinf(z)) {
        const float weight = z > 0.0f ? 1.0f - t : t;
        return weight == 0.0f ? 0.0f : INFINITY * weight;
    }
    return (z > 0.0f ? z : 0.0f) - z * t + log1pf(e);
}

/* Elements [begin, end): their gradients, and the sum of their losses (bce_loss) in order. */
static double bce_range(const void *args, int64_t begin, int64_t end) {
    const bce_args *a = args;
    const float scale = 1.0f / (float)a->n;
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++) {
        float z = a->z[i], t = a->t[i];
        float e = expf(-fabsf(z));
        sum += (double)bce_loss(z, t, e);
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
