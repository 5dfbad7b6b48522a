/* Shape operations for the graph that move data: transposing the last two axes, copying a
 * block of a matrix into another, and the backward pass of a row gather (scatter-add). */
#include "ckernels.h"
#include "threading.h"
#include "transpose_block.h"

/* ---- transpose of each matrix of a batch ------------------------------------------------ */

enum { TRANSPOSE_BLOCK = 16 };

typedef struct {
    int64_t rows, cols;
    int64_t blocks; /* column blocks of TRANSPOSE_BLOCK (the last may be narrower) per matrix */
    int accumulate;
    const float *x;
    float *y;
} transpose_args;

/* Column blocks [begin, end), counted over the batch (matrix u / blocks, columns from
 * (u % blocks) * TRANSPOSE_BLOCK): each block of x's columns, rows x width, becomes width
 * whole rows of y, so that no two threads write one row. Written by ck_transpose_block (in
 * registers on AVX-512); accumulated a 16 x 16 tile at a time, transposed into `tile` and
 * then added to y's rows. */
CK_VECTORIZED static void transpose_range(const void *args, int64_t begin, int64_t end) {
    const transpose_args *a = args;
    const int64_t rows = a->rows, cols = a->cols;
    for (int64_t u = begin; u < end; u++) {
        const int64_t m = u / a->blocks, j0 = u % a->blocks * TRANSPOSE_BLOCK;
        const int64_t width = cols - j0 < TRANSPOSE_BLOCK ? cols - j0 : TRANSPOSE_BLOCK;
        const float *x = a->x + m * rows * cols + j0;
        float *y = a->y + m * rows * cols + j0 * rows;
        if (!a->accumulate) {
            ck_transpose_block(rows, width, x, cols, y, rows);
            continue;
        }
        float tile[TRANSPOSE_BLOCK * TRANSPOSE_BLOCK];
        for (int64_t i0 = 0; i0 < rows; i0 += TRANSPOSE_BLOCK) {
            const int64_t height = rows - i0 < TRANSPOSE_BLOCK ? rows - i0 : TRANSPOSE_BLOCK;
            ck_transpose_block(height, width, x + i0 * cols, cols, tile, TRANSPOSE_BLOCK);
            for (int64_t j = 0; j < width; j++) {
                float *y_row = y + j * rows + i0;
                const float *tile_row = tile + j * TRANSPOSE_BLOCK;
#pragma omp simd
                for (int64_t i = 0; i < height; i++) y_row[i] = y_row[i] + tile_row[i];
            }
        }
    }
}

void ck_transpose(int64_t batch, int64_t rows, int64_t cols, const float *x, int accumulate,
                  float *y) {
    if (rows == 0 || cols == 0) return; /* no elements: form no pointer from x or y */
    const int64_t blocks = (cols + TRANSPOSE_BLOCK - 1) / TRANSPOSE_BLOCK;
    transpose_args args = {rows, cols, blocks, accumulate, x, y};
    ck_parallel_for(batch * blocks, 1,
                    ck_threads_for(batch * rows * cols, CK_PARALLEL_MIN_ELEMENTS),
                    transpose_range, &args);
}

/* ---- block copy ------------------------------------------------------------------------ */

typedef struct {
    int64_t cols, lds, ldd;
    int accumulate;
    const float *src;
    float *dst;
} copy_block_args;

/* Elements [begin, end) of the block counted row by row (element r * cols + j is row r,
 * column j), so that threads share the elements evenly however few the rows: a
 * concatenation along the first axis copies each input as one long row. */
CK_VECTORIZED static void copy_block_range(const void *args, int64_t begin, int64_t end) {
    const copy_block_args *a = args;
    const int64_t cols = a->cols;
    int64_t r = begin / cols, j0 = begin % cols; /* then each next row from its column 0 */
    for (int64_t e = begin; e < end; r++, j0 = 0) {
        const int64_t j1 = end - r * cols < cols ? end - r * cols : cols;
        const float *src = a->src + r * a->lds;
        float *dst = a->dst + r * a->ldd;
        if (a->accumulate) {
#pragma omp simd
            for (int64_t j = j0; j < j1; j++) dst[j] = dst[j] + src[j];
        } else {
            for (int64_t j = j0; j < j1; j++) dst[j] = src[j];
        }
        e = r * cols + j1;
    }
}

void ck_copy_block(int64_t rows, int64_t cols, const float *src, int64_t lds, int accumulate,
                   float *dst, int64_t ldd) {
    if (cols == 0) return; /* nothing to copy (src and dst may be NULL) */
    copy_block_args args = {cols, lds, ldd, accumulate, src, dst};
    const int64_t count = rows * cols;
    ck_parallel_for(count, 16, ck_threads_for(count, CK_PARALLEL_MIN_ELEMENTS),
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

/* Rows of the table narrower than this many floats (one cache line) are scattered on one
 * thread: each thread reads every index to find the rows that are its own, and on narrow rows
 * that reading costs as much as the additions a second thread would take over. */
#define SCATTER_MIN_PARALLEL_COLS 16

/* Table rows [begin, end): zeroed unless accumulating, then every row of dy whose index falls
 * among them added to its table row, rows in order. Threads share the table's rows, not its
 * columns: two threads writing the two halves of the same rows at once, row after row, slow
 * each other down far more than the cache lines they share at the boundary account for. */
CK_VECTORIZED static void scatter_add_table_rows(const void *args, int64_t begin, int64_t end) {
    const scatter_add_args *a = args;
    const int64_t cols = a->cols;
    if (!a->accumulate)
        for (int64_t j = begin * cols; j < end * cols; j++) a->dtable[j] = 0.0f;
    for (int64_t r = 0; r < a->rows; r++) {
        const int64_t t = a->indices[r];
        if (t < begin || t >= end) continue;
        const float *dy = a->dy + r * cols;
        float *d = a->dtable + t * cols;
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) d[j] = d[j] + dy[j];
    }
}

void ck_scatter_add_rows(int64_t rows, int64_t cols, const float *dy, const int64_t *indices,
                         int64_t table_rows, int accumulate, float *dtable) {
    if (cols == 0) return; /* no elements: form no pointer from dy or dtable */
    scatter_add_args args = {rows, cols, table_rows, accumulate, dy, indices, dtable};
    int threads = ck_threads_for((rows + table_rows) * cols, CK_PARALLEL_MIN_ELEMENTS);
    if (cols < SCATTER_MIN_PARALLEL_COLS) threads = 1;
    if (table_rows < threads) threads = (int)table_rows; /* a table row at least for each */
    ck_parallel_for(table_rows, 1, threads, scatter_add_table_rows, &args);
}
