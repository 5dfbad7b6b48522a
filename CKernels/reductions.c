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

/* Along a strided axis (inner > 1) the rows pass in chunks of up to CHUNK_ROWS, so that a
 * row's number within its chunk fits 32 bits, as wide as a float: a vector holds as many
 * rows' numbers as values. */
enum { CHUNK_ROWS = 1024 };

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

/* Columns [0, width) of a slice (width <= MAXIMA_COLUMNS, x its columns' first row, rows
 * inner apart): for each column i, the first maximum of x[k][i] over k < n into y[i] and its k
 * into index[i]. The rows pass in chunks of up to CHUNK_ROWS; through a chunk the columns'
 * running maxima and their rows in it (32 bits, as wide as a float, so that as many columns
 * fit) stay in registers, each compared with one row after another and replaced where the
 * row's element replaces it; after it the winners go to y and index. The first chunk starts
 * from its first row, a later one from y. Always inlined, so that a block's width is a
 * constant where the caller's is. */
enum { MAXIMA_COLUMNS = 128, MAXIMA_NARROW_COLUMNS = 16 };

static inline __attribute__((always_inline)) void column_maxima(int64_t n, int64_t inner,
                                                                int64_t width, const float *x,
                                                                float *y, int64_t *index) {
    float best[MAXIMA_COLUMNS];
    int32_t at[MAXIMA_COLUMNS];
    for (int64_t start = 0; start < n; start += CHUNK_ROWS) {
        const float *chunk = x + start * inner;
        const int32_t rows = n - start < CHUNK_ROWS ? (int32_t)(n - start) : CHUNK_ROWS;
        for (int64_t i = 0; i < width; i++) {
            best[i] = start ? y[i] : chunk[i];
            at[i] = start ? -1 : 0;
        }
        for (int32_t k = start ? 0 : 1; k < rows; k++) {
            const float *row = chunk + k * inner;
            for (int64_t i = 0; i < width; i++) {
                const int take = replaces(row[i], best[i]);
                best[i] = take ? row[i] : best[i];
                at[i] = take ? k : at[i];
            }
        }
        for (int64_t i = 0; i < width; i++) {
            y[i] = best[i];
            index[i] = start && at[i] < 0 ? index[i] : start + at[i];
        }
    }
}

/* Outputs [begin, end) of the outer x inner, o * inner + i: for each (o, i), the first
 * maximum over k of x[o][k][i] and its k. Split between threads as whole slices along a
 * contiguous axis (inner 1), otherwise in blocks of 16 columns, so that fewer slices than
 * threads (a matrix's columns) still share the work. Along a contiguous axis, each row as
 * index_of_maximum finds it; otherwise a slice's columns in blocks of MAXIMA_COLUMNS, then of
 * MAXIMA_NARROW_COLUMNS, then the rest (column_maxima). */
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
        int64_t i = first;
        for (; i + MAXIMA_COLUMNS <= last; i += MAXIMA_COLUMNS)
            column_maxima(n, inner, MAXIMA_COLUMNS, x + i, y + i, index + i);
        for (; i + MAXIMA_NARROW_COLUMNS <= last; i += MAXIMA_NARROW_COLUMNS)
            column_maxima(n, inner, MAXIMA_NARROW_COLUMNS, x + i, y + i, index + i);
        if (i < last) column_maxima(n, inner, last - i, x + i, y + i, index + i);
    }
}

void ck_max_axis(int64_t outer, int64_t n, int64_t inner, const float *x, float *y,
                 int64_t *indices) {
    if (inner == 0) return; /* no elements: form no pointer from x, y or indices */
    max_axis_args args = {n, inner, 0, x, 0, y, 0, indices};
    axis_parallel_for(outer * inner, inner == 1 ? 1 : 16, outer, &args, max_axis_range);
}

/* The columns' gradients of a chunk's rows, SCATTER_COLUMNS at a time (scatter_block). */
enum { SCATTER_COLUMNS = 256 };

/* Rows [first, first + rows) of slice o of dx (rows <= CHUNK_ROWS), columns [c, c +
 * SCATTER_COLUMNS): dx[o][k][i] (+)= dy[o][i] where k == indices[o][i]. Each column's index
 * is made once for all the rows: its row within the chunk (-1 for a row outside it). */
static inline __attribute__((always_inline)) void scatter_block(const max_axis_args *a,
                                                                int64_t o, int64_t first,
                                                                int32_t rows, int64_t c) {
    const int64_t inner = a->inner;
    const int64_t *index = a->indices + o * inner + c;
    const float *dy = a->dy + o * inner + c;
    int32_t row_of[SCATTER_COLUMNS];
    for (int64_t i = 0; i < SCATTER_COLUMNS; i++) {
        const int64_t k = index[i] - first;
        row_of[i] = k >= 0 && k < rows ? (int32_t)k : -1;
    }
    for (int32_t k = 0; k < rows; k++) {
        float *dx = a->dx + (o * a->n + first + k) * inner + c;
        if (a->accumulate)
            for (int64_t i = 0; i < SCATTER_COLUMNS; i++) dx[i] += row_of[i] == k ? dy[i] : 0.0f;
        else
            for (int64_t i = 0; i < SCATTER_COLUMNS; i++) dx[i] = row_of[i] == k ? dy[i] : 0.0f;
    }
}

/* Row `unit` (o * n + k) of dx, columns [c, inner): dx[o][k][i] (+)= dy[o][i] where k ==
 * indices[o][i]. */
static inline __attribute__((always_inline)) void scatter_row(const max_axis_args *a,
                                                              int64_t unit, int64_t c) {
    const int64_t inner = a->inner, o = unit / a->n, k = unit % a->n;
    const int64_t *index = a->indices + o * inner;
    const float *dy = a->dy + o * inner;
    float *row = a->dx + unit * inner;
    if (a->accumulate)
        for (int64_t i = c; i < inner; i++) row[i] += index[i] == k ? dy[i] : 0.0f;
    else
        for (int64_t i = c; i < inner; i++) row[i] = index[i] == k ? dy[i] : 0.0f;
}

/* Units [begin, end) of ck_max_axis_backward's work: along a contiguous axis (inner 1), the
 * slices o, each one pass over dx[o][0 .. n) (dx[o][k] (+)= dy[o] where k == indices[o]);
 * otherwise the rows o * n + k of dx, row by row if narrower than SCATTER_COLUMNS, else in
 * chunks of a slice's rows, their columns in blocks (scatter_block), the rest row by row.
 * Either way a thread writes one contiguous part of dx. */
CK_VECTORIZED static void max_axis_backward_range(const void *args, int64_t begin,
                                                  int64_t end) {
    const max_axis_args *a = args;
    const int64_t n = a->n, inner = a->inner;
    if (inner == 1) {
        for (int64_t o = begin; o < end; o++) {
            const int64_t at = a->indices[o];
            const float g = a->dy[o];
            float *dx = a->dx + o * n;
            if (a->accumulate)
                for (int64_t k = 0; k < n; k++) dx[k] += k == at ? g : 0.0f;
            else
                for (int64_t k = 0; k < n; k++) dx[k] = k == at ? g : 0.0f;
        }
        return;
    }
    if (inner < SCATTER_COLUMNS) {
        for (int64_t unit = begin; unit < end; unit++) scatter_row(a, unit, 0);
        return;
    }
    for (int64_t unit = begin; unit < end;) {
        const int64_t o = unit / n, first = unit % n;
        const int64_t left = end - unit < n - first ? end - unit : n - first;
        const int32_t rows = left < CHUNK_ROWS ? (int32_t)left : CHUNK_ROWS;
        int64_t c = 0;
        for (; c + SCATTER_COLUMNS <= inner; c += SCATTER_COLUMNS)
            scatter_block(a, o, first, rows, c);
        if (c < inner)
            for (int64_t k = 0; k < rows; k++) scatter_row(a, unit + k, c);
        unit += rows;
    }
}

void ck_max_axis_backward(int64_t outer, int64_t n, int64_t inner, const int64_t *indices,
                          const float *dy, int accumulate, float *dx) {
    if (n == 0 || inner == 0) return; /* dx has no elements (the pointers may be NULL) */
    max_axis_args args = {n, inner, accumulate, 0, dy, 0, dx, (int64_t *)indices};
    axis_parallel_for(inner == 1 ? outer : outer * n, 1, outer, &args, max_axis_backward_range);
}
