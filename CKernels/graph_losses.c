/* Binary cross-entropy on logits for the graph (softmax and log-softmax are softmax.c's,
 * softmax cross-entropy and squared error losses.c's). Compiled without contracting a * b + c
 * into a fused multiply-add (FP_CONTRACT OFF, which also holds in the inlined exp_full_range
 * and log_positive), so that every instruction-set clone computes the same bits. */
#pragma STDC FP_CONTRACT OFF

#include "ckernels.h"
#include "sum_lanes.h"
#include "threading.h"
#include "vector_math.h"

#include <math.h>

/* ---- binary cross-entropy on logits ---------------------------------------------------- */

typedef struct {
    int64_t n;
    const float *z, *t;
    float *dz, *dt;
} bce_args;

/* log(1 + e) for e in [0, 1], in plain arithmetic so that loops over it vectorize: u = 1 + e
 * rounded, whose rounding error e - (u - 1) is exact (e <= 1), then log(u) plus that error
 * over u (the next term of log(1 + error / u) is below 2^-49). Where 1 + e rounds to 1 the
 * result is e itself, not 0: the loss of a confidently right logit keeps its size. */
static inline float log1p_unit(float e) {
    const float u = 1.0f + e;
    const float error = e - (u - 1.0f);
    return log_positive(u) + error / u;
}

/* The loss max(z, 0) - z t + log(1 + e) of a logit z and target t, e = exp(-|z|). For an
 * infinite z that formula is inf - inf or inf * 0 where its limit is not: the limit is |z|
 * times the weight of the other class, (1 - t) for z = +inf and t for z = -inf, and 0 where
 * that weight is 0. Both computed and one selected, so that a loop over it vectorizes. */
static inline float bce_loss(float z, float t, float e) {
    const float weight = z > 0.0f ? 1.0f - t : t;
    const float limit = weight == 0.0f ? 0.0f : INFINITY * weight;
    const float finite = (z > 0.0f ? z : 0.0f) - z * t + log1p_unit(e);
    return fabsf(z) == INFINITY ? limit : finite;
}

/* Elements i ..< i + count, count <= SUM_LANES: their losses in double added to lane k (a
 * full block) or to the rest in order (the last), and the gradients asked for: if with_dz,
 * a->dz = (sigmoid(z) - t) / n (sigmoid from e: 1 / (1 + e) for z >= 0, e / (1 + e) below);
 * if with_dt, a->dt = -z / n. Always inlined, so that the full blocks' loop has count constant
 * and runs as vectors, and the flags too, so that each caller computes only its gradients. */
static inline __attribute__((always_inline)) void bce_block(const bce_args *a, int64_t i,
                                                            int64_t count, int with_dz,
                                                            int with_dt, sum_lanes *lane) {
    const float scale = 1.0f / (float)a->n;
    double loss[SUM_LANES];
    float dz[SUM_LANES], dt[SUM_LANES];
    for (int k = 0; k < SUM_LANES; k++) {
        const float z = k < count ? a->z[i + k] : 0.0f, t = k < count ? a->t[i + k] : 0.0f;
        const float e = exp_full_range(-fabsf(z));
        loss[k] = (double)bce_loss(z, t, e);
        if (with_dz) dz[k] = ((z >= 0.0f ? 1.0f : e) / (1.0f + e) - t) * scale;
        if (with_dt) dt[k] = -z * scale;
    }
    if (count == SUM_LANES) sum_lanes_add_terms(lane, loss);
    else for (int k = 0; k < count; k++) lane->rest += loss[k];
    if (with_dz)
        for (int k = 0; k < count; k++) a->dz[i + k] = dz[k];
    if (with_dt)
        for (int k = 0; k < count; k++) a->dt[i + k] = dt[k];
}

/* Elements [begin, end) as bce_block computes them (with the flags constant where inlined):
 * the sum of their losses in double lanes, term begin + j in lane j % SUM_LANES, those past
 * the last full block in the rest (sum_lanes.h). */
static inline __attribute__((always_inline)) double bce_sum(const bce_args *a, int64_t begin,
                                                            int64_t end, int with_dz,
                                                            int with_dt) {
    sum_lanes lane;
    sum_lanes_begin(&lane);
    int64_t i = begin;
    for (; i + SUM_LANES <= end; i += SUM_LANES)
        bce_block(a, i, SUM_LANES, with_dz, with_dt, &lane);
    if (i < end) bce_block(a, i, end - i, with_dz, with_dt, &lane);
    return sum_lanes_total(0.0, &lane);
}

/* bce_sum over [begin, end) with the gradients whose buffers are given. */
CK_VECTORIZED static double bce_range(const void *args, int64_t begin, int64_t end) {
    const bce_args *a = args;
    if (a->dz && a->dt) return bce_sum(a, begin, end, 1, 1);
    if (a->dz) return bce_sum(a, begin, end, 1, 0);
    if (a->dt) return bce_sum(a, begin, end, 0, 1);
    return bce_sum(a, begin, end, 0, 0);
}

float ck_binary_cross_entropy_logits(int64_t n, const float *z, const float *t, float *dz,
                                     float *dt) {
    bce_args args = {n, z, t, dz, dt};
    double total = ck_parallel_sum(n, 1024, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS),
                                   bce_range, &args);
    return (float)(total / (double)n);
}
