/* Shape operations for the graph that move data: transposing the last two axes, copying a
 * block of a matrix into another, and the backward pass of a row gather (scatter-add). */
#include "ckernels.h"
#include "threading.h"

/* ---- transpose of each matrix of a batch ------------------------------------------------ */

typedef struct {
    int64_t rows, cols;
    int accumulate;
    const float *x;
    float *y;
} transpose_args;

/* Matrices [begin, end) of the batch, in tiles of 16 x 16 so that both sides are read and
 * written in cache lines. */
static void transpose_range(const void *args, int64_t begin, int64_t end) {
    const transpose_args *a = args;
    const int64_t rows = a->rows, cols = a->cols;
    enum { TILE = 16 };
    for (int64_t m = begin; m < end; m++) {
        const float *x = a->x + m * rows * cols;
        float *y = a->y + m * rows * cols;
        for (int64_t i0 = 0; i0 < rows; i0 += TILE)
            for (int64_t j0 = 0; j0 < cols; j0 += TILE) {
                int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;
                int64_t j1 = j0 + TILE < cols ? j0 + TILE : cols;
                for (int64_t j = j0; j < j1; j++)
                    for (int64_t i = i0; i < i1; i++) {
                        float v = x[i * cols + j];
                        y[j * rows + i] = a->accumulate ? y[j * rows + i] + v : v;
                    }
            }
    }
}

void ck_transpose(int64_t batch, int64_t rows, int64_t cols, const float *x, int accumulate,
                  float *y) {
    if (rows == 0 || cols == 0) return; /* no elements: form no pointer from x or y */
    transpose_args args = {rows, cols, accumulate, x, y};
    ck_parallel_for(batch, 1, ck_threads_for(batch * rows * cols, CK_PARALLEL_MIN_ELEMENTS),
                    transpose_range, &args);
}

/* ---- block copy ------------------------------------------------------------------------ */

typedef struct {
    int64_t cols, lds, ldd;
    int accumulate;
    const float *src;
    float *dst;
} copy_block_args;

CK_VECTORIZED static void copy_block_range(const void *args, int64_t begin, int64_t end) {
    const copy_block_args *a = args;
    for (int64_t r = begin; r < end; r++) {
        const float *src = a->src + r * a->lds;
        float *dst = a->dst + r * a->ldd;
        if (a->accumulate) {
#pragma omp simd
            for (int64_t j = 0; j < a->cols; j++) dst[j] = dst[j] + src[j];
        } else {
            for (int64_t j = 0; j < a->cols; j++) dst[j] = src[j];
        }
    }
}

void ck_copy_block(int64_t rows, int64_t cols, const float *src, int64_t lds, int accumulate,
                   float *dst, int64_t ldd) {
    if (cols == 0) return; /* nothing to copy (src and dst may be NULL) */
    copy_block_args args = {cols, lds, ldd, accumulate, src, dst};
    ck_parallel_for(rows, 1, ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS),
                    copy_block_range, &args);
}

/* ---- scatter-add of rows: the backward pass of a gather ---------------------------------- */

typedef struct {
    int64_t rows, cols, table_rows;
    int accumulate;
    const float *dy;
    const int64_t *indices;
    float *dtable;
} scatter_add_args;

/* Columns [begin, end) of the table: zeroed unless accumulating, then every row of dy added
 * to its table row, rows in order. */
CK_VECTORIZED static void scatter_add_columns(const void *args, int64_t begin, int64_t end) {
    const scatter_add_args *a = args;
    const int64_t cols = a->cols;
    if (!a->accumulate)
        for (int64_t t = 0; t < a->table_rows; t++)
            for (int64_t j = begin; j < end; j++) a->dtable[t * cols + j] = 0.0f;
    for (int64_t r = 0; r < a->rows; r++) {
        const float *dy = a->dy + r * cols;
        float *d = a->dtable + a->indices[r] * cols;
#pragma omp simd
        for (int64_t j = begin; j < end; j++) d[j] = d[j] + dy[j];
    }
}

void ck_scatter_add_rows(int64_t rows, int64_t cols, const float *dy, const int64_t *indices,
                         int64_t table_rows, int accumulate, float *dtable) {
    if (cols == 0) return; /* no elements: form no pointer from dy or dtable */
    scatter_add_args args = {rows, cols, table_rows, accumulate, dy, indices, dtable};
    int threads = ck_threads_for((rows + table_rows) * cols, CK_PARALLEL_MIN_ELEMENTS);
    if (cols < 16 * threads) threads = 1; /* shares of whole cache lines of each row */
    ck_parallel_for(cols, 16, threads, scatter_add_columns, &args);
}
