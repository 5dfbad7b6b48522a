/* Reductions for the graph: the sum of all elements, the maximum of all elements and along
 * an axis, and their backward passes (sums along an axis are ck_sum_to's). A tensor reduced
 * along an axis is viewed as outer x n x inner (dense), reduced over the n. */
#include "ckernels.h"
#include "row_max.h"
#include "sum_lanes.h"
#include "threading.h"

#include <math.h>
#include <string.h>

/* ---- sum of all elements ---------------------------------------------------------------- */

/* The sum of x[begin .. end). */
CK_VECTORIZED static double sum_range(const void *args, int64_t begin, int64_t end) {
    const float *x = args;
    return row_sum(end - begin, x + begin, 0);
}

/* The sum of the squares of x[begin .. end) (each exact in double). */
CK_VECTORIZED static double sum_of_squares_range(const void *args, int64_t begin, int64_t end) {
    const float *x = args;
    return row_sum(end - begin, x + begin, x + begin);
}

/* body's sum over all n elements of x in double, in chunks of 4096 (ck_parallel_sum). */
static double sum_all(int64_t n, const float *x, ck_range_sum_body body) {
    return ck_parallel_sum(n, 4096, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), body, x);
}

float ck_sum(int64_t n, const float *x) { return (float)sum_all(n, x, sum_range); }

float ck_mean(int64_t n, const float *x) {
    return (float)(sum_all(n, x, sum_range) / (double)n);
}

double ck_sum_of_squares(int64_t n, const float *x) {
    return sum_all(n, x, sum_of_squares_range);
}

/* ---- maxima ----------------------------------------------------------------------------- */

/* The maximum of a range is its first maximal element (a NaN is the largest: the first NaN),
 * found in two passes: row_max (row_max.h), which gives the maximum's value (for a zero, not
 * its sign) and whether an element is NaN (then the maximum is NaN, but not its bits); then a
 * search for the first element equal to it, SEARCH_LANES at a time. A range shorter than
 * SEARCH_LANES is scanned once, in order. */
enum { SEARCH_LANES = 32 };

typedef float search_block __attribute__((vector_size(SEARCH_LANES * sizeof(float))));
typedef int32_t search_mask __attribute__((vector_size(SEARCH_LANES * sizeof(int32_t))));

/* Whether v replaces the running maximum m: v is larger, or v is a NaN and m is not (so a
 * scan keeps the first maximal element, and a NaN is the largest). */
static inline int replaces(float v, float m) { return (v > m) | ((v != v) & (m == m)); }

/* Whether v is the maximum m (a NaN maximum: v is NaN; a zero maximum: either zero). */
static inline int is_maximum(float v, float m) { return (v == m) | ((m != m) & (v != v)); }

/* The index of the first element of x[0 .. n) that is the maximum m (n if none is). */
static inline __attribute__((always_inline)) int64_t first_maximum(int64_t n, const float *x,
                                                                   float m) {
    search_block maximum;
    for (int l = 0; l < SEARCH_LANES; l++) maximum[l] = m;
    const search_mask nan_maximum = maximum != maximum;
    int64_t j = 0;
    for (; j + SEARCH_LANES <= n; j += SEARCH_LANES) {
        search_block v;
        memcpy(&v, x + j, sizeof v);
        if (__builtin_reduce_or((v == maximum) | (nan_maximum & (v != v)))) break;
    }
    for (; j < n; j++)
        if (is_maximum(x[j], m)) break;
    return j;
}

/* The index of the first maximal element of x[0 .. n), n >= 1. */
static inline __attribute__((always_inline)) int64_t index_of_maximum(int64_t n,
                                                                      const float *x) {
    if (n >= SEARCH_LANES) {
        int nan;
        const float m = row_max(n, x, &nan);
        return first_maximum(n, x, nan ? NAN : m);
    }
    int64_t index = 0;
    float best = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        if (x[j] != x[j]) return j;
        if (x[j] > best) {
            best = x[j];
            index = j;
        }
    }
    return index;
}

/* ---- maximum of all elements ------------------------------------------------------------ */

/* The largest element and how many equal it, reading x[0 .. n) from memory once, for ck_max:
 * block by block (MAX_BLOCK elements, which stay in the L1 cache), the block's maximum
 * (row_max), and where it reaches the largest so far, its elements equal to that counted (a
 * larger one starts the count again). NaN elements are passed over, and *any_nan says whether
 * there was one. For a zero maximum the count takes zeros of either sign, but the sign
 * returned may be either. */
enum { MAX_BLOCK = 1024 };

static inline __attribute__((always_inline)) float counted_max(int64_t n, const float *x,
                                                               int64_t *ties, int *any_nan) {
    float m = -INFINITY;
    int64_t count = 0;
    for (int64_t j = 0; j < n; j += MAX_BLOCK) {
        const int64_t length = n - j < MAX_BLOCK ? n - j : MAX_BLOCK;
        int nan;
        const float block_max = row_max(length, x + j, &nan);
        *any_nan |= nan;
        if (block_max < m) continue;
        if (block_max > m) count = 0;
        m = block_max;
        int32_t equal = 0;
        for (int64_t k = 0; k < length; k++) equal += x[j + k] == m;
        count += equal;
    }
    *ties = count;
    return m;
}

/* counted_max where the maximum's value gives its bits: not a NaN, not a zero. Otherwise the
 * first maximal element is searched for and the ties are counted from it on. */
CK_VECTORIZED float ck_max(int64_t n, const float *x, int64_t *ties) {
    int nan = 0;
    const float counted = counted_max(n, x, ties, &nan);
    if (!nan && counted != 0.0f) return counted;
    const int64_t first = index_of_maximum(n, x);
    const float m = x[first];
    int64_t count = 0;
    for (int64_t i = first; i < n; i++) count += is_maximum(x[i], m);
    *ties = count;
    return m;
}

typedef struct {
    float maximum, share;
    int accumulate;
    const float *x;
    float *dx;
} max_backward_args;

CK_VECTORIZED static void max_backward_range(const void *args, int64_t begin, int64_t end) {
    const max_backward_args *a = args;
    const float m = a->maximum, share = a->share;
    const float *x = a->x;
    float *dx = a->dx;
    if (a->accumulate)
        for (int64_t i = begin; i < end; i++) dx[i] += is_maximum(x[i], m) ? share : 0.0f;
    else
        for (int64_t i = begin; i < end; i++) dx[i] = is_maximum(x[i], m) ? share : 0.0f;
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

/* The threads worth using for outer slices of n x inner elements: no more than slices. */
static int axis_threads(int64_t outer, int64_t n, int64_t inner) {
    const int threads = ck_threads_for(outer * n * inner, CK_PARALLEL_MIN_ELEMENTS);
    return outer < threads ? (int)outer : threads;
}

/* Outer slices [begin, end): for each (o, i), the first maximum over k of x[o][k][i] and its
 * k. Along a contiguous axis (inner 1), each row as index_of_maximum finds it; otherwise all
 * of a slice's inner positions together, k by k, replacing where the element replaces. */
CK_VECTORIZED static void max_axis_range(const void *args, int64_t begin, int64_t end) {
    const max_axis_args *a = args;
    const int64_t n = a->n, inner = a->inner;
    for (int64_t o = begin; o < end; o++) {
        const float *x = a->x + o * n * inner;
        float *y = a->y + o * inner;
        int64_t *index = a->indices + o * inner;
        if (inner == 1) {
            *index = index_of_maximum(n, x);
            *y = x[*index];
            continue;
        }
        for (int64_t i = 0; i < inner; i++) {
            y[i] = x[i];
            index[i] = 0;
        }
        for (int64_t k = 1; k < n; k++) {
            const float *row = x + k * inner;
            for (int64_t i = 0; i < inner; i++) {
                const int take = replaces(row[i], y[i]);
                y[i] = take ? row[i] : y[i];
                index[i] = take ? k : index[i];
            }
        }
    }
}

void ck_max_axis(int64_t outer, int64_t n, int64_t inner, const float *x, float *y,
                 int64_t *indices) {
    if (inner == 0) return; /* no elements: form no pointer from x, y or indices */
    max_axis_args args = {n, inner, 0, x, 0, y, 0, indices};
    ck_parallel_for(outer, 1, axis_threads(outer, n, inner), max_axis_range, &args);
}

/* dx[k][i] (+)= dy[i] where k == index[i], else 0, for one outer slice (k < n, i < inner).
 * Along a contiguous axis (inner 1), one pass over the row. */
static inline __attribute__((always_inline)) void gradient_to_indices(
    int64_t n, int64_t inner, const int64_t *index, const float *dy, int accumulate,
    float *dx) {
    if (inner == 1) {
        const int64_t at = *index;
        const float g = *dy;
        if (accumulate)
            for (int64_t k = 0; k < n; k++) dx[k] += k == at ? g : 0.0f;
        else
            for (int64_t k = 0; k < n; k++) dx[k] = k == at ? g : 0.0f;
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        float *row = dx + k * inner;
        if (accumulate)
            for (int64_t i = 0; i < inner; i++) row[i] += index[i] == k ? dy[i] : 0.0f;
        else
            for (int64_t i = 0; i < inner; i++) row[i] = index[i] == k ? dy[i] : 0.0f;
    }
}

/* Outer slices [begin, end) of ck_max_axis_backward. */
CK_VECTORIZED static void max_axis_backward_range(const void *args, int64_t begin,
                                                  int64_t end) {
    const max_axis_args *a = args;
    const int64_t n = a->n, inner = a->inner;
    for (int64_t o = begin; o < end; o++)
        gradient_to_indices(n, inner, a->indices + o * inner, a->dy + o * inner, a->accumulate,
                            a->dx + o * n * inner);
}

void ck_max_axis_backward(int64_t outer, int64_t n, int64_t inner, const int64_t *indices,
                          const float *dy, int accumulate, float *dx) {
    if (n == 0 || inner == 0) return; /* dx has no elements (the pointers may be NULL) */
    max_axis_args args = {n, inner, accumulate, 0, dy, 0, dx, (int64_t *)indices};
    ck_parallel_for(outer, 1, axis_threads(outer, n, inner), max_axis_backward_range, &args);
}
