/* Softmax and log-softmax over the rows of a matrix, forward and backward. Rows are
 * independent: threads split the rows, never a row.
 *
 * Each row's sum (of its exponentials, of dy, or of the products dy * y) is taken in double in
 * sum_lanes.h's partial sums: in an order that depends only on the row's length, not on the
 * instruction set or the thread count. The file is compiled without contracting a * b + c
 * into a fused multiply-add (FP_CONTRACT OFF, which also holds in the inlined
 * exp_nonpositive and log_positive), so that every instruction-set clone of a kernel computes
 * the same bits. */
#pragma STDC FP_CONTRACT OFF

#include "ckernels.h"
#include "row_max.h"
#include "row_sum_exp.h"
#include "sum_lanes.h"
#include "threading.h"
#include "vector_math.h"

#include <math.h>

/* Rows of fewer classes are taken in groups of up to this many elements (a multiple of
 * SUM_LANES), so that their exponentials fill vector lanes however few classes a row has;
 * wider rows are taken one by one. */
enum { GROUP = 1024 };

/* How many of `rows` rows of `classes` elements the next group takes: at least one. */
static inline int64_t group_rows(int64_t classes, int64_t rows) {
    const int64_t fit = classes < GROUP ? GROUP / classes : 1;
    return fit < rows ? fit : rows;
}

/* y[j] = z[j] - (the maximum of z) for j in [0, classes): every y[j] <= 0. y may be z. The
 * maximum (row_max.h) passes NaN elements over: their exponentials are NaN, so the row's
 * results are NaN all the same. */
static inline __attribute__((always_inline)) void subtract_row_max(int64_t classes,
                                                                   const float *z, float *y) {
    const float max = row_max(classes, z, NULL);
#pragma omp simd
    for (int64_t j = 0; j < classes; j++) y[j] = z[j] - max;
}

typedef struct {
    int64_t classes;
    int accumulate;  /* backward: add to dx instead of overwriting it */
    const float *x;  /* forward: the input; backward: the output y */
    const float *dy; /* backward only */
    float *out;      /* forward: the output; backward: dx */
} softmax_args;

/* ---- softmax --------------------------------------------------------------------------- */

/* p = e^(z - max) / (sum of those), the sum rounded to float, its inverse taken once. A
 * group of several rows: z - max row by row, then the exponentials of the whole group (of
 * (z - max) - 0, the same bits as one row's e^(z - max)), then each row's sum and scaling. */
CK_VECTORIZED static void softmax_rows(const void *args, int64_t begin, int64_t end) {
    const softmax_args *a = args;
    const int64_t classes = a->classes;
    for (int64_t i = begin, rows; i < end; i += rows) {
        rows = group_rows(classes, end - i);
        const float *z = a->x + i * classes;
        float *p = a->out + i * classes;
        if (rows == 1) {
            shifted_exp(classes, z, row_max(classes, z, NULL), p);
        } else {
            for (int64_t r = 0; r < rows; r++)
                subtract_row_max(classes, z + r * classes, p + r * classes);
            shifted_exp(rows * classes, p, 0.0f, p);
        }
        for (int64_t r = 0; r < rows; r++) {
            float *row = p + r * classes;
            const float inv_sum = 1.0f / (float)row_sum(classes, row, 0);
#pragma omp simd
            for (int64_t j = 0; j < classes; j++) row[j] *= inv_sum;
        }
    }
}

void ck_softmax(int64_t rows, int64_t classes, const float *logits, float *probs) {
    if (classes <= 0) return; /* rows of no classes: nothing to write */
    softmax_args args = {classes, 0, logits, 0, probs};
    ck_parallel_for(rows, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    softmax_rows, &args);
}

/* dx (+)= y * (dy - sum of dy * y), the sum of the exact products rounded to float once. dx
 * may be dy: each element is read before it is written. */
CK_VECTORIZED static void softmax_backward_rows(const void *args, int64_t begin, int64_t end) {
    const softmax_args *a = args;
    const int64_t classes = a->classes;
    for (int64_t i = begin; i < end; i++) {
        const float *y = a->x + i * classes, *dy = a->dy + i * classes;
        float *dx = a->out + i * classes;
        const float dot = (float)row_sum(classes, dy, y);
#pragma omp simd
        for (int64_t j = 0; j < classes; j++) {
            const float g = y[j] * (dy[j] - dot);
            dx[j] = a->accumulate ? dx[j] + g : g;
        }
    }
}

void ck_softmax_backward(int64_t rows, int64_t classes, const float *y, const float *dy,
                         int accumulate, float *dx) {
    if (classes == 0) return; /* no elements: form no pointer from y, dy or dx */
    softmax_args args = {classes, accumulate, y, dy, dx};
    ck_parallel_for(rows, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    softmax_backward_rows, &args);
}

/* ---- log-softmax ----------------------------------------------------------------------- */

/* y = (z - max) - log(sum of e^(z - max)), the sum rounded to float before its logarithm.
 * (z - max) first: exact for z near max, so large logits lose no digits. y may be z. One row
 * with its exponentials in a buffer, or a group of several rows as softmax_rows's: z - max
 * row by row into y, the group's exponentials into the buffer, then each row's sum, the
 * logarithms of all the sums (one loop that fills vector lanes, and leaves the rows' sums
 * independent of each other), and each row's subtraction. */
CK_VECTORIZED static void log_softmax_rows(const void *args, int64_t begin, int64_t end) {
    const softmax_args *a = args;
    const int64_t classes = a->classes;
    float e[GROUP], log_sum[GROUP]; /* a group has at most GROUP rows */
    for (int64_t i = begin, rows; i < end; i += rows) {
        rows = group_rows(classes, end - i);
        const float *z = a->x + i * classes;
        float *y = a->out + i * classes;
        if (rows == 1) {
            const float max = row_max(classes, z, NULL);
            const float log_sum = log_positive((float)row_sum_exp(classes, z, max, GROUP, e));
#pragma omp simd
            for (int64_t j = 0; j < classes; j++) y[j] = (z[j] - max) - log_sum;
            continue;
        }
        for (int64_t r = 0; r < rows; r++)
            subtract_row_max(classes, z + r * classes, y + r * classes);
        shifted_exp(rows * classes, y, 0.0f, e);
        for (int64_t r = 0; r < rows; r++)
            log_sum[r] = (float)row_sum(classes, e + r * classes, 0);
#pragma omp simd
        for (int64_t r = 0; r < rows; r++) log_sum[r] = log_positive(log_sum[r]);
        for (int64_t r = 0; r < rows; r++) {
            float *row = y + r * classes;
#pragma omp simd
            for (int64_t j = 0; j < classes; j++) row[j] -= log_sum[r];
        }
    }
}

void ck_log_softmax(int64_t rows, int64_t classes, const float *x, float *y) {
    softmax_args args = {classes, 0, x, 0, y};
    ck_parallel_for(rows, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    log_softmax_rows, &args);
}

/* dx (+)= dy - e^y * (sum of dy), the sum rounded to float once. */
CK_VECTORIZED static void log_softmax_backward_rows(const void *args, int64_t begin,
                                                    int64_t end) {
    const softmax_args *a = args;
    const int64_t classes = a->classes;
    for (int64_t i = begin; i < end; i++) {
        const float *y = a->x + i * classes, *dy = a->dy + i * classes;
        float *dx = a->out + i * classes;
        const float sum = (float)row_sum(classes, dy, 0);
#pragma omp simd
#pragma clang loop interleave_count(4)
        for (int64_t j = 0; j < classes; j++) {
            float g = dy[j] - exp_nonpositive(y[j]) * sum;
            dx[j] = a->accumulate ? dx[j] + g : g;
        }
    }
}

void ck_log_softmax_backward(int64_t rows, int64_t classes, const float *y, const float *dy,
                             int accumulate, float *dx) {
    if (classes == 0) return; /* no elements: form no pointer from y, dy or dx */
    softmax_args args = {classes, accumulate, y, dy, dx};
    ck_parallel_for(rows, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    log_softmax_backward_rows, &args);
}
