/* AVX-512F microkernel: a 12 x 32 tile of C held in 24 zmm accumulators (12 rows x two
 * 16-float vectors), or its first rows only. Contract: gemm.h. Compiled for AVX-512 by the
 * target attribute only; the driver calls it only when the CPU has AVX-512F. */
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

enum { MR = CK_GEMM_AVX512_MR, NR = CK_GEMM_AVX512_NR };
_Static_assert(NR == 32, "the kernel holds a row of the tile in two zmm registers");

/* Step p of the product: row p of the B sliver (32 floats) times column p of the A sliver
 * (the first R of its 12 floats, each broadcast), one FMA per accumulator:
 * acc = a * b + acc. */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
step(const int R, __m512 acc[MR][2], const float *a, const float *b_row) {
    __m512 b0 = _mm512_loadu_ps(b_row), b1 = _mm512_loadu_ps(b_row + 16);
    for (int i = 0; i < R; i++) {
        __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
}

/* The first R rows of the tile (R a constant after inlining). */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
tile(const int R, int64_t kc, const float *a_packed, const float *b, int64_t ldb,
     float *c, int64_t ldc, float alpha, float beta, int64_t prefetch_b) {
    /* acc[i][h] holds row i, columns 16h..16h+15 of the tile. The loops over i and h have
     * constant bounds and are fully unrolled, so acc lives in registers. */
    __m512 acc[MR][2];
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    /* A tile of C that will be read (beta != 0: a later k block) is asked for now, into L2:
     * its rows are ldc apart, each on another page for long rows, and its lines would
     * otherwise be fetched only after the k loop. Into L1 it would compete with B's sliver
     * during the loop. A tile only written is not asked for: that only adds traffic while
     * the memory is busy. */
    if (beta != 0.0f)
        for (int i = 0; i < R; i++) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T1);
            _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T1);
        }

    /* The steps in increasing p. A sliver of a deep block does not fit in L1 and is read
     * from L2 (or, in place, from wherever B is); the first kc - prefetch_b steps also ask
     * for the two cache lines of the row prefetch_b ahead. */
    const int64_t asking = prefetch_b > 0 && prefetch_b < kc ? kc - prefetch_b : 0;
    int64_t p = 0;
    for (; p < asking; p++) {
        const float *ahead = b + (p + prefetch_b) * ldb;
        _mm_prefetch((const char *)ahead, _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + 16), _MM_HINT_T0);
        step(R, acc, a_packed + p * MR, b + p * ldb);
    }
    for (; p < kc; p++) step(R, acc, a_packed + p * MR, b + p * ldb);

    /* c = alpha * acc (beta == 0: c is not read), or fma(beta, c, alpha * acc). */
    __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0.0f) {
        for (int i = 0; i < R; i++) {
            _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, acc[i][0]));
            _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, acc[i][1]));
        }
    } else {
        __m512 vb = _mm512_set1_ps(beta);
        for (int i = 0; i < R; i++) {
            float *ci = c + i * ldc;
            _mm512_storeu_ps(ci, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci),
                                                 _mm512_mul_ps(va, acc[i][0])));
            _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16),
                                                      _mm512_mul_ps(va, acc[i][1])));
        }
    }
}

__attribute__((target("avx512f,fma"))) void
ck_gemm_kernel_avx512(int64_t kc, int rows, const float *a_packed, const float *b, int64_t ldb,
                      float *c, int64_t ldc, float alpha, float beta, int64_t prefetch_b,
                      const float *next_b) {
    (void)next_b; /* asked for by the 8 x 48 kernel only (gemm.h) */
#define TILE(R) tile(R, kc, a_packed, b, ldb, c, ldc, alpha, beta, prefetch_b)
    switch (rows) { CK_GEMM_ROWS_1_TO_12(TILE) }
#undef TILE
}

#else
/* Not x86-64: no AVX-512 path (ck_gemm_path_supported reports it unsupported). */
typedef int ck_gemm_kernel_avx512_unavailable;
#endif
