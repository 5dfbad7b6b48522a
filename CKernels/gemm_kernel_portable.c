/* Portable microkernel: a 6 x 8 tile of C (or its first rows) in 12 accumulators of 4 floats,
 * and its narrow form on the tile's first columns only, the last vector partial; written
 * with GCC/Clang vector extensions so that they compile for any target (SSE2 on plain
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

/* The first `count` floats at p, zeros in the other lanes; nothing past them is read. */
static inline v4f load4_first(const float *p, int count) {
    float padded[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(padded, p, (size_t)count * sizeof(float));
    return load4(padded);
}

/* The first `count` lanes of v to p; nothing past them is written. */
static inline void store4_first(float *p, v4f v, int count) {
    float lanes[4];
    store4(lanes, v);
    memcpy(p, lanes, (size_t)count * sizeof(float));
}

/* The first R rows and V vectors of 4 columns of the tile, of the last vector its first
 * `in_last` columns (R and V constants after inlining; in_last 4 for whole tiles). */
static inline __attribute__((always_inline)) void
tile(const int R, const int V, int in_last, int64_t kc, const float *a_packed, const float *b,
     int64_t ldb, float *c, int64_t ldc, float alpha, float beta) {
    /* acc[i][h] holds row i, columns 4h..4h+3 of the tile (fully unrolled: registers). */
    v4f acc[MR][2];
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = (v4f){0.0f, 0.0f, 0.0f, 0.0f};
    /* Step p: the first V vectors of row p of the B sliver times column p of the A sliver
     * (the first R of its 6 floats, each splatted by the scalar-vector product), in
     * increasing p. */
    for (int64_t p = 0; p < kc; p++) {
        const float *a = a_packed + p * MR, *b_row = b + p * ldb;
        v4f bv[2];
        for (int h = 0; h < V; h++) bv[h] = load4(b_row + 4 * h);
        for (int i = 0; i < R; i++)
            for (int h = 0; h < V; h++) acc[i][h] += a[i] * bv[h];
    }
    /* c = alpha * acc (beta == 0: c is not read), or alpha * acc + beta * c; of the last
     * vector only its first in_last columns are read and written. */
    for (int i = 0; i < R; i++) {
        float *ci = c + i * ldc;
        for (int h = 0; h < V; h++) {
            const int count = h == V - 1 ? in_last : 4;
            v4f r = alpha * acc[i][h];
            if (beta != 0.0f) r = r + beta * load4_first(ci + 4 * h, count);
            store4_first(ci + 4 * h, r, count);
        }
    }
}

void ck_gemm_kernel_portable(int64_t kc, int rows, const float *a_packed, const float *b,
                             int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                             int64_t prefetch_b, const float *next_b) {
    (void)prefetch_b; /* the portable table asks for no rows ahead (gemm.h) */
    (void)next_b;
#define TILE(R) tile(R, 2, 4, kc, a_packed, b, ldb, c, ldc, alpha, beta)
    switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE) }
#undef TILE
}

/* The tile's first `cols` columns (1 <= cols < 8) in ceil(cols / 4) vectors, the last one
 * partial. */
void ck_gemm_kernel_portable_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                                    const float *b, int64_t ldb, float *c, int64_t ldc,
                                    float alpha, float beta) {
    const int in_last = (cols - 1) % 4 + 1;
#define TILE_1(R) tile(R, 1, in_last, kc, a_packed, b, ldb, c, ldc, alpha, beta)
#define TILE_2(R) tile(R, 2, in_last, kc, a_packed, b, ldb, c, ldc, alpha, beta)
    if (cols <= 4) {
        switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE_1) }
    } else {
        switch (rows) { CK_GEMM_ROWS_1_TO_6(TILE_2) }
    }
#undef TILE_1
#undef TILE_2
}
