/* AVX2+FMA microkernel: a 6 x 16 tile of C held in 12 ymm accumulators (6 rows x two
 * 8-float vectors), or its first rows only; and its narrow form on the tile's first columns
 * only, the last vector masked. Contract: gemm.h. Compiled for AVX2+FMA by the
 * target attribute only; the driver calls it only when the CPU has both. */
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

enum { MR = CK_GEMM_AVX2_MR, NR = CK_GEMM_AVX2_NR };
_Static_assert(NR == 16, "the kernel holds a row of the tile in two ymm registers");

/* Step p: the first V vectors of row p of the B sliver times column p of the A sliver (the
 * first R of its 6 floats, each broadcast), one FMA per accumulator: acc = a * b + acc. */
static inline __attribute__((target("avx2,fma"), always_inline)) void
step(const int R, const int V, __m256 acc[MR][2], const float *a, const float *b_row) {
    __m256 bv[2];
    for (int h = 0; h < V; h++) bv[h] = _mm256_loadu_ps(b_row + 8 * h);
    for (int i = 0; i < R; i++) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
        for (int h = 0; h < V; h++) acc[i][h] = _mm256_fmadd_ps(ai, bv[h], acc[i][h]);
    }
}

/* Steps 0 .. kc-1 in increasing p, U of them an iteration (U a constant after inlining),
 * then the rest one by one. With `ask` (not NULL: the caller's next_b, gemm.h), each
 * iteration of 4 steps also asks L2 for the next 32 bytes from it: a cache line every 8
 * steps, asked for twice, so that the loop has no branch; 2 * kc floats in all. */
static inline __attribute__((target("avx2,fma"), always_inline)) void
steps(const int R, const int V, const int U, __m256 acc[MR][2], int64_t kc,
      const float *a_packed, const float *b, int64_t ldb, const char *ask) {
    int64_t p = 0;
    for (; p + U <= kc; p += U) {
        if (ask != NULL) {
            _mm_prefetch(ask, _MM_HINT_T1);
            ask += 32;
        }
        for (int u = 0; u < U; u++) step(R, V, acc, a_packed + (p + u) * MR, b + (p + u) * ldb);
    }
    for (; p < kc; p++) step(R, V, acc, a_packed + p * MR, b + p * ldb);
}

/* The first R rows and V vectors of 8 columns of the tile; with `masked`, of the last vector
 * only the columns whose lanes in `last` are set (R, V and `masked` constants after
 * inlining). */
static inline __attribute__((target("avx2,fma"), always_inline)) void
tile(const int R, const int V, const int masked, __m256i last, int64_t kc,
     const float *a_packed, const float *b, int64_t ldb, float *c, int64_t ldc, float alpha,
     float beta, const float *next_b) {
    /* acc[i][h] holds row i, columns 8h..8h+7 of the tile (fully unrolled: registers). */
    __m256 acc[MR][2];
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    /* A tile of C that will be read asked for now, into L2, as in the AVX-512 kernel. Its rows
     * are up to 64 bytes, two lines when unaligned: each row's first column is asked for, and
     * its last (of a masked vector the first column, which is inside the tile). */
    if (beta != 0.0f)
        for (int i = 0; i < R; i++) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T1);
            _mm_prefetch((const char *)(c + i * ldc + (masked ? 8 * (V - 1) : 8 * V - 1)),
                         _MM_HINT_T1);
        }
    /* The steps in increasing p, several an iteration (fewer instructions per step for the
     * loop itself): four from a packed sliver (rows NR floats apart, from L1 or L2), asking
     * for next_b where the driver gives it; two from B in place, whose rows, ldb apart, come
     * from L2 or L3 (the unrolling for each chosen by measurement: Benchmarks/README.md, the
     * Zen 3 section on the AVX2 kernel's loop). Each call has `ask` NULL or not as a constant,
     * so that its loop has no test of it. */
    if (ldb != NR)
        steps(R, V, 2, acc, kc, a_packed, b, ldb, NULL);
    else if (next_b != NULL)
        steps(R, V, 4, acc, kc, a_packed, b, ldb, (const char *)next_b);
    else
        steps(R, V, 4, acc, kc, a_packed, b, ldb, NULL);
    /* c = alpha * acc (beta == 0: c is not read), or fma(beta, c, alpha * acc); the masked
     * vector reads and writes its own columns only. */
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int i = 0; i < R; i++)
        for (int h = 0; h < V; h++) {
            float *ci = c + i * ldc + 8 * h;
            const int partial = masked && h == V - 1;
            __m256 result = _mm256_mul_ps(va, acc[i][h]);
            if (beta != 0.0f)
                result = _mm256_fmadd_ps(
                    vb, partial ? _mm256_maskload_ps(ci, last) : _mm256_loadu_ps(ci), result);
            if (partial)
                _mm256_maskstore_ps(ci, last, result);
            else
                _mm256_storeu_ps(ci, result);
        }
}

__attribute__((target("avx2,fma"))) void
ck_gemm_kernel_avx2(int64_t kc, int rows, const float *a_packed, const float *b, int64_t ldb,
                    float *c, int64_t ldc, float alpha, float beta, int64_t prefetch_b,
                    const float *next_b) {
    (void)prefetch_b; /* the AVX2 table asks for no rows ahead (gemm.h) */
    const __m256i all = _mm256_set1_epi32(-1);
#define TILE(R) tile(R, 2, 0, all, kc, a_packed, b, ldb, c, ldc, alpha, beta, next_b)
    switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE) }
#undef TILE
}

/* The tile's first `cols` columns (1 <= cols < 16) in ceil(cols / 8) vectors, the last one
 * masked (lanes below its column count set). */
__attribute__((target("avx2,fma"))) void
ck_gemm_kernel_avx2_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                           const float *b, int64_t ldb, float *c, int64_t ldc, float alpha,
                           float beta) {
    const int in_last = (cols - 1) % 8 + 1;
    const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(in_last),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#define TILE_1(R) tile(R, 1, 1, last, kc, a_packed, b, ldb, c, ldc, alpha, beta, NULL)
#define TILE_2(R) tile(R, 2, 1, last, kc, a_packed, b, ldb, c, ldc, alpha, beta, NULL)
    if (cols <= 8) {
        switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE_1) }
    } else {
        switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE_2) }
    }
#undef TILE_1
#undef TILE_2
}

#else
/* Not x86-64: no AVX2 path (ck_gemm_path_supported reports it unsupported).
 * The typedef keeps the file from being an empty translation unit, which ISO C forbids. */
typedef int ck_gemm_kernel_avx2_unavailable;
#endif
