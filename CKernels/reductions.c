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

/* ck_max splits x[0 .. n) into `parts` contiguous parts (ck_split_range, boundaries multiples
 * of MAX_BLOCK), one a thread, and takes counted_max of each. The largest of the parts'
 * maxima, the ties of the parts that reach it added and whether any part holds a NaN do not
 * depend on where the parts begin: neither on the thread count. */
enum { MAX_PARTS = 64 };

/* One part's counted_max: its maximum, the elements equal to it, whether one is NaN. */
typedef struct {
    float maximum;
    int64_t ties;
    int nan;
} max_part;

typedef struct {
    int64_t n;
    int parts;
    const float *x;
    max_part *part;
} max_parts_args;

/* [*begin, *end) of part p of ck_max's range. */
static void max_part_range(const max_parts_args *a, int p, int64_t *begin, int64_t *end) {
    ck_split_range(a->n, MAX_BLOCK, p, a->parts, begin, end);
}

/* Parts [begin, end) of ck_max's range: their counted_max. */
CK_VECTORIZED static void max_parts(const void *args, int64_t begin, int64_t end) {
    const max_parts_args *a = args;
    for (int64_t p = begin; p < end; p++) {
        int64_t first, last;
        max_part_range(a, (int)p, &first, &last);
        max_part *part = a->part + p;
        part->nan = 0;
        part->maximum = counted_max(last - first, a->x + first, &part->ties, &part->nan);
    }
}

/* The maximum of x[0 .. n) where its value does not give its bits (a NaN, a zero): the first
 * maximal element of x[begin .. end), the first part that holds one; for a NaN maximum,
 * *ties = the NaNs from it on. */
CK_VECTORIZED static float first_maximal_element(int64_t n, const float *x, int64_t begin,
                                                 int64_t end, int nan, int64_t *ties) {
    const int64_t first = begin + index_of_maximum(end - begin, x + begin);
    if (nan) {
        int64_t count = 0;
        for (int64_t i = first; i < n; i++) count += x[i] != x[i];
        *ties = count;
    }
    return x[first];
}

/* The parts' maxima combined, the largest's value returned where it gives its bits (not a
 * NaN, not a zero); otherwise the first maximal element of the first part that holds it. */
float ck_max(int64_t n, const float *x, int64_t *ties) {
    const int threads = ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS);
    max_part part[MAX_PARTS];
    const max_parts_args args = {n, threads < MAX_PARTS ? threads : MAX_PARTS, x, part};
    ck_parallel_for(args.parts, 1, args.parts, max_parts, &args);
    float m = -INFINITY;
    int nan = 0;
    for (int p = 0; p < args.parts; p++) {
        m = part[p].maximum > m ? part[p].maximum : m;
        nan |= part[p].nan;
    }
    int64_t count = 0;
    for (int p = 0; p < args.parts; p++) count += part[p].maximum == m ? part[p].ties : 0;
    *ties = count;
    if (!nan && m != 0.0f) return m;
    int p = 0;
    while (nan ? !part[p].nan : part[p].maximum != m) p++;
    int64_t begin, end;
    max_part_range(&args, p, &begin, &end);
    return first_maximal_element(n, x, begin, end, nan, ties);
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

/* Runs body over `units` units of an outer x n x inner reduction's work (split at multiples of
 * align), on the threads its outer * n * inner elements pay for, no more than the parts of
 * `align` units. Each unit is computed by one thread alone, whatever the split. */
static void axis_parallel_for(int64_t units, int64_t align, int64_t outer,
                              const max_axis_args *args, ck_range_body body) {
    const int64_t parts = (units + align - 1) / align;
    const int threads = ck_threads_for(outer * args->n * args->inner, CK_PARALLEL_MIN_ELEMENTS);
    ck_parallel_for(units, align, parts < threads ? (int)parts : threads, body, args);
}

/* The columns [*first, *last) of slice o among the outputs [begin, end). */
static inline void slice_columns(int64_t o, int64_t inner, int64_t begin, int64_t end,
                                 int64_t *first, int64_t *last) {
    *first = begin > o * inner ? begin - o * inner : 0;
    *last = end < (o + 1) * inner ? end - o * inner : inner;
}

/* Outputs [begin, end) of the outer x inner, o * inner + i: for each (o, i), the first
 * maximum over k of x[o][k][i] and its k. Split between threads as whole slices along a
 * contiguous axis (inner 1), otherwise in blocks of 16 columns, so that fewer slices than
 * threads (a matrix's columns) still share the work. Along a contiguous axis, each row as
 * index_of_maximum finds it; otherwise a slice's columns together, k by k, replacing where
 * the element replaces. */
CK_VECTORIZED static void max_axis_range(const void *args, int64_t begin, int64_t end) {
    const max_axis_args *a = args;
    const int64_t n = a->n, inner = a->inner;
    for (int64_t o = begin / inner; o * inner < end; o++) {
        const float *x = a->x + o * n * inner;
        float *y = a->y + o * inner;
        int64_t *index = a->indices + o * inner;
        if (inner == 1) {
            *index = index_of_maximum(n, x);
            *y = x[*index];
            continue;
        }
        int64_t first, last;
        slice_columns(o, inner, begin, end, &first, &last);
        for (int64_t i = first; i < last; i++) {
            y[i] = x[i];
            index[i] = 0;
        }
        for (int64_t k = 1; k < n; k++) {
            const float *row = x + k * inner;
            for (int64_t i = first; i < last; i++) {
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
    axis_parallel_for(outer * inner, inner == 1 ? 1 : 16, outer, &args, max_axis_range);
}

/* Units [begin, end) of ck_max_axis_backward's work: along a contiguous axis (inner 1), the
 * slices o, each one pass over dx[o][0 .. n) (dx[o][k] (+)= dy[o] where k == indices[o]);
 * otherwise the rows o * n + k of dx, each one pass over dx[o][k][0 .. inner) (dx[o][k][i]
 * (+)= dy[o][i] where k == indices[o][i]). Either way a thread writes one contiguous part of
 * dx. */
CK_VECTORIZED static void max_axis_backward_range(const void *args, int64_t begin,
                                                  int64_t end) {
    const max_axis_args *a = args;
    const int64_t n = a->n, inner = a->inner;
    for (int64_t unit = begin; unit < end; unit++) {
        const int64_t o = inner == 1 ? unit : unit / n;
        const int64_t *index = a->indices + o * inner;
        const float *dy = a->dy + o * inner;
        if (inner == 1) {
            const int64_t at = *index;
            const float g = *dy;
            float *dx = a->dx + o * n;
            if (a->accumulate)
                for (int64_t k = 0; k < n; k++) dx[k] += k == at ? g : 0.0f;
            else
                for (int64_t k = 0; k < n; k++) dx[k] = k == at ? g : 0.0f;
            continue;
        }
        const int64_t k = unit % n;
        float *row = a->dx + unit * inner;
        if (a->accumulate)
            for (int64_t i = 0; i < inner; i++) row[i] += index[i] == k ? dy[i] : 0.0f;
        else
            for (int64_t i = 0; i < inner; i++) row[i] = index[i] == k ? dy[i] : 0.0f;
    }
}

void ck_max_axis_backward(int64_t outer, int64_t n, int64_t inner, const int64_t *indices,
                          const float *dy, int accumulate, float *dx) {
    if (n == 0 || inner == 0) return; /* dx has no elements (the pointers may be NULL) */
    max_axis_args args = {n, inner, accumulate, 0, dy, 0, dx, (int64_t *)indices};
    axis_parallel_for(inner == 1 ? outer : outer * n, 1, outer, &args, max_axis_backward_range);
}
