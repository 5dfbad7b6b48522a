/* Internal: direct (unpacked) products for GEMMs too small or too narrow to pay for packing.
 * Written once with vector extensions (gemm_direct_impl.h) and compiled once per instruction
 * set (gemm_direct_<path>.c). The driver (gemm.c) decides when to use them and how to map
 * op(A), op(B) and C onto their operands X, Y and D.
 *
 * Every element of D is one fixed sequence of operations that depends only on the shape:
 * the kernels may run their rows on several threads without changing a bit. */
#ifndef CK_GEMM_DIRECT_H
#define CK_GEMM_DIRECT_H

#include <stdint.h>

/* Broadcast form, vectors along the columns of D (m x n):
 *     D(i, j) = alpha * sum_{p < k} X(i, p) * Y(p, j) + beta * D(i, j)
 * X(i, p) = x[i*rs_x + p*cs_x] (any strides: X is read one scalar at a time),
 * Y(p, j) = y[p*ldy + j] (rows contiguous), D(i, j) = d[i*rs_d + j*cs_d] (any strides; cs_d
 * == 1 stores whole vectors). Each element: one multiply-add chain over p from zero.
 * beta == 0: D is not read. k >= 1. */
typedef void (*ck_gemm_direct_broadcast)(int64_t m, int64_t n, int64_t k, float alpha,
                                         const float *x, int64_t rs_x, int64_t cs_x,
                                         const float *y, int64_t ldy, float beta, float *d,
                                         int64_t rs_d, int64_t cs_d);

/* Dot form, vectors along k, for few columns and a long k:
 *     D(i, j) = alpha * sum_{p < k} X(i, p) * Yt(j, p) + beta * D(i, j)
 * X(i, p) = x[i*ldx + p] and Yt(j, p) = yt[j*ldyt + p] (both rows contiguous along p),
 * D(i, j) = d[i*ldd + j]. Each element: lane-wise chains over p (AVX-512 takes the last
 * k % lanes terms as one more, masked, step), a fixed pairwise sum of the lanes, then (other
 * paths) the remaining p in order. Runs rows in parallel when the work pays.
 * beta == 0: D is not read. k >= 1. */
typedef void (*ck_gemm_direct_dot)(int64_t m, int64_t n, int64_t k, float alpha,
                                   const float *x, int64_t ldx, const float *yt, int64_t ldyt,
                                   float beta, float *d, int64_t ldd);

#define CK_DIRECT_DECLARE(path)                                                                  \
    void ck_gemm_direct_broadcast_##path(int64_t m, int64_t n, int64_t k, float alpha,          \
                                         const float *x, int64_t rs_x, int64_t cs_x,            \
                                         const float *y, int64_t ldy, float beta, float *d,     \
                                         int64_t rs_d, int64_t cs_d);                           \
    void ck_gemm_direct_dot_##path(int64_t m, int64_t n, int64_t k, float alpha, const float *x, \
                                   int64_t ldx, const float *yt, int64_t ldyt, float beta,       \
                                   float *d, int64_t ldd);

CK_DIRECT_DECLARE(portable)
#if defined(__x86_64__)
CK_DIRECT_DECLARE(avx2)
CK_DIRECT_DECLARE(avx512)
#endif

#endif
