/* Element-wise kernels: bias add and its gradient, ReLU forward and backward, row gather,
 * row argmax. Each opens a parallel region only when the data pay for it
 * (CK_PARALLEL_MIN_ELEMENTS), and splits only independent outputs between threads. */
#include "ckernels.h"
#include "threading.h"

#include <string.h>

/* x: rows x cols (ldx), bias: cols. Rows are independent: split rows. */
void ck_bias_add(int64_t rows, int64_t cols, float *x, int64_t ldx, const float *bias) {
    int threads = ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        float *row = x + i * ldx;
        for (int64_t j = 0; j < cols; j++) row[j] += bias[j];
    }
}

/* dy: rows x cols (ldy), dbias: cols. Each thread owns a contiguous range of columns and
 * sums all rows for it in order, so no sum is split between threads. */
void ck_bias_grad(int64_t rows, int64_t cols, const float *dy, int64_t ldy, float *dbias) {
    int threads = ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS);
    /* Keep each share at least a cache line of columns wide. */
    if (threads > 1 && cols < 16 * threads) threads = 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int64_t begin, end;
        ck_split_range(cols, 16, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
        for (int64_t i = 0; i < rows; i++) {
            const float *row = dy + i * ldy;
            for (int64_t j = begin; j < end; j++) dbias[j] += row[j];
        }
    }
}

void ck_relu_forward(int64_t n, const float *x, float *y) {
    int threads = ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for simd num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN stays NaN */
}

void ck_relu_backward(int64_t n, const float *y, const float *dy, float *dx) {
    int threads = ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for simd num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* src: any number of rows x cols (lds); dst: rows x cols, dense. */
void ck_gather_rows(int64_t rows, int64_t cols, const float *src, int64_t lds,
                    const int64_t *indices, float *dst) {
    int threads = ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + r * cols, src + indices[r] * lds, (size_t)cols * sizeof(float));
}

/* x: rows x cols (ldx); out: rows. */
void ck_argmax_rows(int64_t rows, int64_t cols, const float *x, int64_t ldx, int32_t *out) {
    int threads = ck_threads_for(rows * cols, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const float *row = x + i * ldx;
        int64_t best = 0;
        for (int64_t j = 1; j < cols; j++)
            if (row[j] > row[best] || (row[best] != row[best] && row[j] == row[j])) best = j;
        out[i] = (int32_t)best;
    }
}
