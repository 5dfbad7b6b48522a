/* Reductions for the graph: the sum of all elements, the maximum of all elements and along
 * an axis, and their backward passes (sums along an axis are ck_sum_to's). A tensor reduced
 * along an axis is viewed as outer x n x inner (dense), reduced over the n. */
#include "ckernels.h"
#include "sum_lanes.h"
#include "threading.h"

#include <math.h>

/* ---- sum of all elements ---------------------------------------------------------------- */

/* The sum of x[begin .. end), in double lanes (sum_lanes.h) from +0. */
CK_VECTORIZED static double sum_range(const void *args, int64_t begin, int64_t end) {
    const float *x = args;
    sum_lanes lane;
    sum_lanes_begin(&lane);
    sum_lanes_add(&lane, end - begin, x + begin, 0);
    return sum_lanes_total(0.0, &lane);
}

float ck_sum(int64_t n, const float *x) {
    return (float)ck_parallel_sum(n, 4096, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS),
                                  sum_range, x);
}

/* ---- maximum of all elements ------------------------------------------------------------ */

/* Whether v is the maximum m (a NaN maximum: v is NaN). */
static inline int is_maximum(float v, float m) { return v == m || (m != m && v != v); }

float ck_max(int64_t n, const float *x, int64_t *ties) {
    float m = x[0];
    for (int64_t i = 1; i < n && m == m; i++)
        if (x[i] > m || x[i] != x[i]) m = x[i];
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) count += is_maximum(x[i], m);
    *ties = count;
    return m;
}

typedef struct {
    float maximum, share;
    int accumulate;
    const float *x;
    float *dx;
} max_backward_args;

static void max_backward_range(const void *args, int64_t begin, int64_t end) {
    const max_backward_args *a = args;
    for (int64_t i = begin; i < end; i++) {
        float g = is_maximum(a->x[i], a->maximum) ? a->share : 0.0f;
        a->dx[i] = a->accumulate ? a->dx[i] + g : g;
    }
}

void ck_max_backward(int64_t n, const float *x, float maximum, float share, int accumulate,
                     float *dx) {
    max_backward_args args = {maximum, share, accumulate, x, dx};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), max_backward_range,
                    &args);
}

/* ---- maximum along an axis ------------------------------------------------------------- */

typedef struct {
    int64_t n, inner;
    int accumulate;
    const float *x, *dy;
    float *y, *dx;
    int64_t *indices;
} max_axis_args;

/* Outer slices [begin, end): for each (o, i), the first maximum over k of x[o][k][i] (a NaN
 * is the maximum, the first one) and its k. */
static void max_axis_range(const void *args, int64_t begin, int64_t end) {
    const max_axis_args *a = args;
    const int64_t n = a->n, inner = a->inner;
    for (int64_t o = begin; o < end; o++) {
        const float *x = a->x + o * n * inner;
        for (int64_t i = 0; i < inner; i++) {
            float best = x[i];
            int64_t index = 0;
            for (int64_t k = 1; k < n && best == best; k++) {
                float v = x[k * inner + i];
                if (v > best || v != v) {
                    best = v;
                    index = k;
                }
            }
            a->y[o * inner + i] = best;
            a->indices[o * inner + i] = index;
        }
    }
}

void ck_max_axis(int64_t outer, int64_t n, int64_t inner, const float *x, float *y,
                 int64_t *indices) {
    if (inner == 0) return; /* no elements: form no pointer from x, y or indices */
    max_axis_args args = {n, inner, 0, x, 0, y, 0, indices};
    ck_parallel_for(outer, 1, ck_threads_for(outer * n * inner, CK_PARALLEL_MIN_ELEMENTS),
                    max_axis_range, &args);
}

/* Outer slices [begin, end): dx[o][k][i] (+)= dy[o][i] where k is the index, else 0. */
static void max_axis_backward_range(const void *args, int64_t begin, int64_t end) {
    const max_axis_args *a = args;
    const int64_t n = a->n, inner = a->inner;
    for (int64_t o = begin; o < end; o++) {
        float *dx = a->dx + o * n * inner;
        const int64_t *index = a->indices + o * inner;
        const float *dy = a->dy + o * inner;
        for (int64_t k = 0; k < n; k++)
            for (int64_t i = 0; i < inner; i++) {
                float g = index[i] == k ? dy[i] : 0.0f;
                dx[k * inner + i] = a->accumulate ? dx[k * inner + i] + g : g;
            }
    }
}

void ck_max_axis_backward(int64_t outer, int64_t n, int64_t inner, const int64_t *indices,
                          const float *dy, int accumulate, float *dx) {
    if (n == 0 || inner == 0) return; /* dx has no elements (the pointers may be NULL) */
    max_axis_args args = {n, inner, accumulate, 0, dy, 0, dx, (int64_t *)indices};
    ck_parallel_for(outer, 1, ck_threads_for(outer * n * inner, CK_PARALLEL_MIN_ELEMENTS),
                    max_axis_backward_range, &args);
}
