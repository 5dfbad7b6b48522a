/* Element-wise kernels: bias add and its gradient, ReLU forward (its backward pass is with
 * the other activations', activations.c), row gather, row argmax. Each is a loop over a range
 * of independent outputs (a *_range function), run by ck_parallel_for on the calling thread
 * or, when the data pay for a parallel region (CK_PARALLEL_MIN_ELEMENTS), on several
 * threads. */
#include "ckernels.h"
#include "relu.h"
#include "threading.h"

#include <string.h>

/* ---- bias add: rows are independent ---------------------------------------------------- */

typedef struct {
    int64_t cols, ldx;
    float *x;
    const float *bias;
} bias_add_args;

CK_VECTORIZED static void bias_add_rows(const void *args, int64_t begin, int64_t end) {
    const bias_add_args *a = args;
    for (int64_t i = begin; i < end; i++) {
        float *row = a->x + i * a->ldx;
#pragma omp simd
        for (int64_t j = 0; j < a->cols; j++) row[j] += a->bias[j];
    }
}

void ck_bias_add(int64_t rows, int64_t cols, float *x, int64_t ldx, const float *bias) {
    if (cols == 0) return; /* no elements (x and bias may be NULL): no row pointer is formed */
    bias_add_args args = {cols, ldx, x, bias};
    ck_parallel_for(rows, 1, ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS),
                    bias_add_rows, &args);
}

/* ---- bias gradient: columns are independent; each sums all rows in order --------------- */

typedef struct {
    int64_t rows, ldy;
    int accumulate;
    const float *dy;
    float *dbias;
} bias_grad_args;

CK_VECTORIZED static void bias_grad_columns(const void *args, int64_t begin, int64_t end) {
    const bias_grad_args *a = args;
    float *restrict dbias = a->dbias;
    /* Overwriting starts each sum from zero, exactly as accumulating into zeros would. */
    if (!a->accumulate)
        for (int64_t j = begin; j < end; j++) dbias[j] = 0.0f;
    /* Four rows at a time, added in row order in registers: dbias goes through memory once
     * per four rows instead of once per row, each time a store-to-load wait (the same sums,
     * bit for bit). */
    int64_t i = 0;
    for (; i + 4 <= a->rows; i += 4) {
        const float *r0 = a->dy + i * a->ldy, *r1 = r0 + a->ldy, *r2 = r1 + a->ldy,
                    *r3 = r2 + a->ldy;
#pragma omp simd
        for (int64_t j = begin; j < end; j++) dbias[j] = dbias[j] + r0[j] + r1[j] + r2[j] + r3[j];
    }
    for (; i < a->rows; i++) {
        const float *row = a->dy + i * a->ldy;
#pragma omp simd
        for (int64_t j = begin; j < end; j++) dbias[j] += row[j];
    }
}

void ck_bias_grad(int64_t rows, int64_t cols, const float *dy, int64_t ldy, int accumulate,
                  float *dbias) {
    if (cols == 0) return; /* no sums (dy and dbias may be NULL): no row pointer is formed */
    bias_grad_args args = {rows, ldy, accumulate, dy, dbias};
    int threads = ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS);
    /* Shares of whole cache lines (16 floats) of dbias. */
    if (cols < 16 * threads) threads = 1;
    ck_parallel_for(cols, 16, threads, bias_grad_columns, &args);
}

/* ---- ReLU ------------------------------------------------------------------------------ */

typedef struct {
    const float *x;
    float *y;
} relu_forward_args;

CK_VECTORIZED static void relu_forward_range(const void *args, int64_t begin, int64_t end) {
    const relu_forward_args *a = args;
#pragma omp simd
    for (int64_t i = begin; i < end; i++) a->y[i] = relu_value(a->x[i]);
}

void ck_relu_forward(int64_t n, const float *x, float *y) {
    relu_forward_args args = {x, y};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), relu_forward_range,
                    &args);
}

/* ---- gather rows: dst row r = src row indices[r] ---------------------------------------- */

typedef struct {
    int64_t cols, lds;
    const float *src;
    const int64_t *indices;
    float *dst;
} gather_rows_args;

/* Rows of at most this many floats are copied by a plain loop: a memcpy call per row costs
 * more than the copy (the spiral's batches are 20 rows of 2 floats). The pragma keeps clang
 * from making the loop a memcpy call again. */
#define GATHER_SHORT_ROW 16

static void gather_rows_range(const void *args, int64_t begin, int64_t end) {
    const gather_rows_args *a = args;
    const int64_t cols = a->cols;
    if (cols > GATHER_SHORT_ROW) {
        for (int64_t r = begin; r < end; r++)
            memcpy(a->dst + r * cols, a->src + a->indices[r] * a->lds,
                   (size_t)cols * sizeof(float));
        return;
    }
    for (int64_t r = begin; r < end; r++) {
        const float *src = a->src + a->indices[r] * a->lds;
        float *dst = a->dst + r * cols;
#pragma clang loop vectorize(disable) unroll(disable)
        for (int64_t j = 0; j < cols; j++) dst[j] = src[j];
    }
}

void ck_gather_rows(int64_t rows, int64_t cols, const float *src, int64_t lds,
                    const int64_t *indices, float *dst) {
    if (cols == 0) return; /* nothing to copy (src and dst may be NULL) */
    gather_rows_args args = {cols, lds, src, indices, dst};
    ck_parallel_for(rows, 1, ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS),
                    gather_rows_range, &args);
}

/* ---- argmax of each row ---------------------------------------------------------------- */

typedef struct {
    int64_t cols, ldx;
    const float *x;
    int32_t *out;
} argmax_rows_args;

static void argmax_rows_range(const void *args, int64_t begin, int64_t end) {
    const argmax_rows_args *a = args;
    for (int64_t i = begin; i < end; i++) {
        const float *row = a->x + i * a->ldx;
        int64_t best = 0;
        for (int64_t j = 1; j < a->cols; j++)
            if (row[j] > row[best] || (row[best] != row[best] && row[j] == row[j])) best = j;
        a->out[i] = (int32_t)best;
    }
}

void ck_argmax_rows(int64_t rows, int64_t cols, const float *x, int64_t ldx, int32_t *out) {
    argmax_rows_args args = {cols, ldx, x, out};
    ck_parallel_for(rows, 1, ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS),
                    argmax_rows_range, &args);
}
