/* Portable microkernel: a 6 x 8 tile of C (or its first rows) in 12 accumulators of 4 floats,
 * written with GCC/Clang vector extensions so it compiles for any target (SSE2 on plain
 * x86-64, NEON on aarch64). Contract: gemm.h.
 *
 * Multiply-add: `acc += a * b` is one expression, so the compiler fuses it into an FMA where
 * the target has one (clang's default -ffp-contract=on: aarch64) and otherwise rounds the
 * product and the sum (plain x86-64). Either way every element of every tile goes through
 * the same operations, so results stay independent of the thread split. */
#include "gemm.h"

#include <string.h>

enum { MR = CK_GEMM_PORTABLE_MR, NR = CK_GEMM_PORTABLE_NR };

typedef float v4f __attribute__((vector_size(16)));
_Static_assert(NR == 2 * 4, "the kernel holds a row of the tile in two 4-float vectors");

/* Unaligned loads and stores through memcpy: no alignment or aliasing assumptions; the
 * compiler turns them into single vector moves. */
static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store4(float *p, v4f v) { memcpy(p, &v, sizeof v); }

/* The first R rows of the tile (R a constant after inlining). */
static inline __attribute__((always_inline)) void
tile(const int R, int64_t kc, const float *a_packed, const float *b, int64_t ldb,
     float *c, int64_t ldc, float alpha, float beta) {
    /* acc[i][h] holds row i, columns 4h..4h+3 of the tile (fully unrolled: registers). */
    v4f acc[MR][2];
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = (v4f){0.0f, 0.0f, 0.0f, 0.0f};

    /* Step p: row p of the B sliver (8 floats) times column p of the A sliver (the first
     * R of its 6 floats, each splatted by the scalar-vector product), in increasing p. */
    for (int64_t p = 0; p < kc; p++) {
        const float *a = a_packed + p * MR, *b_row = b + p * ldb;
        v4f b0 = load4(b_row), b1 = load4(b_row + 4);
        for (int i = 0; i < R; i++) {
            acc[i][0] += a[i] * b0;
            acc[i][1] += a[i] * b1;
        }
    }

    /* c = alpha * acc (beta == 0: c is not read), or alpha * acc + beta * c. */
    for (int i = 0; i < R; i++) {
        float *ci = c + i * ldc;
        for (int h = 0; h < 2; h++) {
            v4f r = alpha * acc[i][h];
            if (beta != 0.0f) r = r + beta * load4(ci + 4 * h);
            store4(ci + 4 * h, r);
        }
    }
}

void ck_gemm_kernel_portable(int64_t kc, int rows, const float *a_packed, const float *b,
                             int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                             int64_t prefetch_b, const float *next_b) {
    (void)prefetch_b; /* the portable table asks for no rows ahead (gemm.h) */
    (void)next_b;
#define TILE(R) tile(R, kc, a_packed, b, ldb, c, ldc, alpha, beta)
    switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE) }
#undef TILE
}
