/* AVX2+FMA microkernel: a 6 x 16 tile of C held in 12 ymm accumulators (6 rows x two
 * 8-float vectors), or its first rows only. Contract: gemm.h. Compiled for AVX2+FMA by the
 * target attribute only; the driver calls it only when the CPU has both. */
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

enum { MR = CK_GEMM_AVX2_MR, NR = CK_GEMM_AVX2_NR };
_Static_assert(NR == 16, "the kernel holds a row of the tile in two ymm registers");

/* The first R rows of the tile (R a constant after inlining). */
static inline __attribute__((target("avx2,fma"), always_inline)) void
tile(const int R, int64_t kc, const float *a_packed, const float *b, int64_t ldb,
     float *c, int64_t ldc, float alpha, float beta) {
    /* acc[i][h] holds row i, columns 8h..8h+7 of the tile (fully unrolled: registers). */
    __m256 acc[MR][2];
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    /* A tile of C that will be read asked for now, into L2, as in the AVX-512 kernel (its
     * rows are 64 bytes, two lines when unaligned). */
    if (beta != 0.0f)
        for (int i = 0; i < R; i++) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T1);
            _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T1);
        }

    /* Step p: row p of the B sliver (16 floats) times column p of the A sliver (the first R
     * of its 6 floats, each broadcast), one FMA per accumulator: acc = a * b + acc, in
     * increasing p. */
    for (int64_t p = 0; p < kc; p++) {
        const float *a = a_packed + p * MR, *b_row = b + p * ldb;
        __m256 b0 = _mm256_loadu_ps(b_row), b1 = _mm256_loadu_ps(b_row + 8);
        for (int i = 0; i < R; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }

    /* c = alpha * acc (beta == 0: c is not read), or fma(beta, c, alpha * acc). */
    __m256 va = _mm256_set1_ps(alpha);
    if (beta == 0.0f) {
        for (int i = 0; i < R; i++) {
            _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, acc[i][0]));
            _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, acc[i][1]));
        }
    } else {
        __m256 vb = _mm256_set1_ps(beta);
        for (int i = 0; i < R; i++) {
            float *ci = c + i * ldc;
            _mm256_storeu_ps(ci, _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci),
                                                 _mm256_mul_ps(va, acc[i][0])));
            _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8),
                                                     _mm256_mul_ps(va, acc[i][1])));
        }
    }
}

__attribute__((target("avx2,fma"))) void
ck_gemm_kernel_avx2(int64_t kc, int rows, const float *a_packed, const float *b, int64_t ldb,
                    float *c, int64_t ldc, float alpha, float beta, int64_t prefetch_b,
                    const float *next_b) {
    (void)prefetch_b; /* the AVX2 table asks for no rows ahead (gemm.h) */
    (void)next_b;
#define TILE(R) tile(R, kc, a_packed, b, ldb, c, ldc, alpha, beta)
    switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE) }
#undef TILE
}

#else
/* Not x86-64: no AVX2 path (ck_gemm_path_supported reports it unsupported). */
typedef int ck_gemm_kernel_avx2_unavailable;
#endif
