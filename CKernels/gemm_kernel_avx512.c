/* AVX-512F microkernel: a 12 x 32 tile of C held in 24 zmm accumulators (12 rows x two
 * 16-float vectors), or its first rows only; and its narrow form on the tile's first columns
 * only, the last vector masked. Contract: gemm.h. Compiled for AVX-512 by the target
 * attribute only; the driver calls them only when the CPU has AVX-512F. */
#include "gemm.h"

#if defined(__x86_64__)
#include "gemm_tile_avx512.h"

#include <immintrin.h>

enum { MR = CK_GEMM_AVX512_MR, NR = CK_GEMM_AVX512_NR };
_Static_assert(NR == 32, "the kernel holds a row of the tile in two zmm registers");

/* The first R rows and V vectors of 16 columns of the tile, the last vector's columns those
 * of the mask `last` (R, V and, for whole tiles, `last` constants after inlining). */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
tile(const int R, const int V, __mmask16 last, int64_t kc, const float *a_packed,
     const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
     int64_t prefetch_b) {
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
        for (int i = 0; i < R; i++)
            for (int h = 0; h < V; h++)
                _mm_prefetch((const char *)(c + i * ldc + 16 * h), _MM_HINT_T1);

    /* The steps in increasing p. A sliver of a deep block does not fit in L1 and is read
     * from L2 (or, in place, from wherever B is); the first kc - prefetch_b steps also ask
     * for the cache lines of the row prefetch_b ahead. */
    const int64_t asking = prefetch_b > 0 && prefetch_b < kc ? kc - prefetch_b : 0;
    int64_t p = 0;
    for (; p < asking; p++) {
        const float *ahead = b + (p + prefetch_b) * ldb;
        for (int h = 0; h < V; h++) _mm_prefetch((const char *)(ahead + 16 * h), _MM_HINT_T0);
        ck_gemm_tile_step_avx512(R, V, 2, acc, a_packed + p * MR, b + p * ldb);
    }
    for (; p < kc; p++) ck_gemm_tile_step_avx512(R, V, 2, acc, a_packed + p * MR, b + p * ldb);

    ck_gemm_store_tile_avx512(R, V, 2, acc, last, c, ldc, alpha, beta);
}

__attribute__((target("avx512f,fma"))) void
ck_gemm_kernel_avx512(int64_t kc, int rows, const float *a_packed, const float *b, int64_t ldb,
                      float *c, int64_t ldc, float alpha, float beta, int64_t prefetch_b,
                      const float *next_b) {
    (void)next_b; /* asked for by the 8 x 48 kernel only (gemm.h) */
#define TILE(R) tile(R, 2, 0xFFFF, kc, a_packed, b, ldb, c, ldc, alpha, beta, prefetch_b)
    switch (rows) { CK_GEMM_ROWS_1_TO_12(TILE) }
#undef TILE
}

/* The tile's first `cols` columns (1 <= cols < 32) in ceil(cols / 16) vectors, the last one
 * masked: a last B~ sliver narrower than the tile costs its own columns only. */
__attribute__((target("avx512f,fma"))) void
ck_gemm_kernel_avx512_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                             const float *b, int64_t ldb, float *c, int64_t ldc, float alpha,
                             float beta) {
    const __mmask16 last = ck_gemm_last_vector_mask(cols);
#define TILE_1(R) tile(R, 1, last, kc, a_packed, b, ldb, c, ldc, alpha, beta, 0)
#define TILE_2(R) tile(R, 2, last, kc, a_packed, b, ldb, c, ldc, alpha, beta, 0)
    if (cols <= 16) {
        switch (rows) { CK_GEMM_ROWS_1_TO_12(TILE_1) }
    } else {
        switch (rows) { CK_GEMM_ROWS_1_TO_12(TILE_2) }
    }
#undef TILE_1
#undef TILE_2
}

#else
/* Not x86-64: no AVX-512 path (ck_gemm_path_supported reports it unsupported).
 * The typedef keeps the file from being an empty translation unit, which ISO C forbids. */
typedef int ck_gemm_kernel_avx512_unavailable;
#endif
