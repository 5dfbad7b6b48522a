/* AVX-512F microkernel with an 8 x 48 tile of C held in 24 zmm accumulators (8 rows x three
 * 16-float vectors), or its first rows only; and its narrow form on the tile's first columns
 * only, the last vector masked. Contract: gemm.h. The blocked product of the two-FMA table
 * uses them (its packed_isa, gemm_plan.h); compiled for AVX-512 by the target attribute
 * only, called only when the CPU has AVX-512F.
 *
 * Whole tiles run their k loop in the assembly below, two steps an iteration, written so that
 * no multiply-add waits for a load: the next step's B row is loaded into a second set of
 * three registers while the current row is used, and each broadcast of A goes into one of two
 * registers alternately, two rows ahead. Along the way it asks for the A sliver 512 bytes
 * ahead (into L1), for a piece of the next B sliver (into L2: the driver gives each tile of a
 * column of tiles the next piece, so the column as a whole brings in the next sliver), and,
 * over the last 8 iterations, for the tile's rows of C with intent to write. Every element is
 * still one multiply-add chain in increasing p from zero, as in every kernel: the bits are
 * those of the 12 x 32 kernel. */
#include "gemm.h"

#if defined(__x86_64__)
#include "gemm_tile_avx512.h"

#include <immintrin.h>

enum { MR = CK_GEMM_AVX512_8X48_MR, NR = CK_GEMM_AVX512_8X48_NR };
_Static_assert(MR == 8 && NR == 48, "the assembly holds an 8-row tile in three zmm per row");

/* The assembly's pieces. B rows: the set in zmm24-26 and the set in zmm27-29; broadcasts of
 * A: zmm30 for even rows, zmm31 for odd rows; the accumulators are the operands c<row>_<h>. */
#define B_SET_X "%%zmm24", "%%zmm25", "%%zmm26"
#define B_SET_Y "%%zmm27", "%%zmm28", "%%zmm29"
#define A_EVEN "%%zmm30"
#define A_ODD "%%zmm31"
/* Row I of a step: its three accumulators += the broadcast in A times the B row in B0..B2. */
#define ROW(I, A, B0, B1, B2)                                                                  \
    "vfmadd231ps " B0 ", " A ", %[c" #I "_0]\n\t"                                              \
    "vfmadd231ps " B1 ", " A ", %[c" #I "_1]\n\t"                                              \
    "vfmadd231ps " B2 ", " A ", %[c" #I "_2]\n\t"
#define ROW_(...) ROW(__VA_ARGS__)
/* The A value at byte OFFSET of the current pair of columns into register A. */
#define BROADCAST(OFFSET, A) "vbroadcastss " #OFFSET "(%[a]), " A "\n\t"
/* The B row at ROW (an address without displacement: the current row or one after it) into
 * B0..B2. */
#define LOAD_B(ROW, B0, B1, B2)                                                                \
    "vmovups " ROW ", " B0 "\n\t"                                                              \
    "vmovups 64" ROW ", " B1 "\n\t"                                                            \
    "vmovups 128" ROW ", " B2 "\n\t"
#define LOAD_B_(...) LOAD_B(__VA_ARGS__)
/* The tile's next row of C, asked for with intent to write. */
#define ASK_FOR_C_ROW                                                                          \
    "prefetchw (%[c_row])\n\t"                                                                 \
    "prefetchw 64(%[c_row])\n\t"                                                               \
    "prefetchw 128(%[c_row])\n\t"                                                              \
    "add %[ldc], %[c_row]\n\t"
/* One iteration: steps p (B row in X, row p + 1 loaded into Y) and p + 1 (B row in Y, row
 * p + 2 loaded into X), each broadcast two rows ahead (the last two of a step are the next
 * step's first two), then the pointers moved on. EXTRA goes in the middle of step p + 1. */
#define PAIR(EXTRA)                                                                            \
    ROW_(0, A_EVEN, B_SET_X) BROADCAST(8, A_EVEN)                                              \
    ROW_(1, A_ODD, B_SET_X) BROADCAST(12, A_ODD)                                               \
    LOAD_B_("(%[b],%[ldb])", B_SET_Y)                                                          \
    ROW_(2, A_EVEN, B_SET_X) BROADCAST(16, A_EVEN)                                             \
    ROW_(3, A_ODD, B_SET_X) BROADCAST(20, A_ODD)                                               \
    "prefetcht0 512(%[a])\n\t"                                                                 \
    ROW_(4, A_EVEN, B_SET_X) BROADCAST(24, A_EVEN)                                             \
    ROW_(5, A_ODD, B_SET_X) BROADCAST(28, A_ODD)                                               \
    ROW_(6, A_EVEN, B_SET_X) BROADCAST(32, A_EVEN)                                             \
    ROW_(7, A_ODD, B_SET_X) BROADCAST(36, A_ODD)                                               \
    ROW_(0, A_EVEN, B_SET_Y) BROADCAST(40, A_EVEN)                                             \
    ROW_(1, A_ODD, B_SET_Y) BROADCAST(44, A_ODD)                                               \
    LOAD_B_("(%[b],%[ldb],2)", B_SET_X)                                                        \
    ROW_(2, A_EVEN, B_SET_Y) BROADCAST(48, A_EVEN)                                             \
    ROW_(3, A_ODD, B_SET_Y) BROADCAST(52, A_ODD)                                               \
    EXTRA                                                                                      \
    "prefetcht1 (%[next_b])\n\t"                                                               \
    ROW_(4, A_EVEN, B_SET_Y) BROADCAST(56, A_EVEN)                                             \
    ROW_(5, A_ODD, B_SET_Y) BROADCAST(60, A_ODD)                                               \
    ROW_(6, A_EVEN, B_SET_Y) BROADCAST(64, A_EVEN)                                             \
    ROW_(7, A_ODD, B_SET_Y) BROADCAST(68, A_ODD)                                               \
    "add $64, %[a]\n\t"                                                                        \
    "lea (%[b],%[ldb],2), %[b]\n\t"                                                            \
    "add $16, %[next_b]\n\t"
/* Row I's accumulators as the operands [cI_0], [cI_1], [cI_2] (acc[I][0..2]), which ROW names
 * %[cI_h]. Written out, ACC(0) .. ACC(7) declare c0_0 c0_1 c0_2, c1_0 c1_1 c1_2,
 * c2_0 c2_1 c2_2, c3_0 c3_1 c3_2, c4_0 c4_1 c4_2, c5_0 c5_1 c5_2, c6_0 c6_1 c6_2 and
 * c7_0 c7_1 c7_2. */
#define ACC(I) [c##I##_0] "+v"(acc[I][0]), [c##I##_1] "+v"(acc[I][1]), [c##I##_2] "+v"(acc[I][2])

/* Steps 0 .. 2 * pairs - 1 of a whole tile, from the slivers at a and b_row (pairs >= 1,
 * 2 * pairs < kc: the loads that run ahead stay inside the slivers), the last min(8, pairs)
 * iterations also asking for the 8 rows of C at c. One line of next_b is asked for every 4
 * iterations. The iteration is written once, as the assembler macro ck_8x48_pair (argument
 * 1: with ASK_FOR_C_ROW), which each instance of the statement defines and removes again:
 * the template stays within C's 4095 characters of a string literal. */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
pairs_of_steps(int64_t pairs, __m512 acc[MR][3], const float *a, const float *b_row,
               int64_t ldb, float *c, int64_t ldc, const float *next_b) {
    int64_t plain = pairs > 8 ? pairs - 8 : 0, asking = pairs - plain;
    const int64_t ldb_bytes = ldb * (int64_t)sizeof(float);
    const int64_t ldc_bytes = ldc * (int64_t)sizeof(float);
    __asm__ volatile(
        ".macro ck_8x48_pair ask\n\t"
        PAIR(".if \\ask\n\t" ASK_FOR_C_ROW ".endif\n\t")
        ".endm\n\t"
        LOAD_B_("(%[b])", B_SET_X)
        BROADCAST(0, A_EVEN)
        BROADCAST(4, A_ODD)
        "test %[plain], %[plain]\n\t"
        "jz 2f\n\t"
        "1:\n\t"
        "ck_8x48_pair 0\n\t"
        "dec %[plain]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        "ck_8x48_pair 1\n\t"
        "dec %[asking]\n\t"
        "jnz 2b\n\t"
        ".purgem ck_8x48_pair\n\t"
        : [a] "+r"(a), [b] "+r"(b_row), [plain] "+r"(plain), [asking] "+r"(asking),
          [c_row] "+r"(c), [next_b] "+r"(next_b), ACC(0), ACC(1), ACC(2), ACC(3), ACC(4),
          ACC(5), ACC(6), ACC(7)
        : [ldb] "r"(ldb_bytes), [ldc] "r"(ldc_bytes)
        : "zmm24", "zmm25", "zmm26", "zmm27", "zmm28", "zmm29", "zmm30", "zmm31", "cc",
          "memory");
}

/* The first R rows and V vectors of 16 columns of the tile, the last vector's columns those
 * of the mask `last` (R, V and, for whole tiles, `last` constants after inlining). */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
tile(const int R, const int V, __mmask16 last, int64_t kc, const float *a_packed,
     const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
     const float *next_b) {
    __m512 acc[MR][3];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();

    /* All 8 rows and 3 vectors: the assembly takes (kc - 1) / 2 pairs of steps, C the last one
     * or two. A NULL next_b asks for the A sliver again instead (in cache already). */
    int64_t p = 0;
    const int64_t pairs = (kc - 1) / 2;
    if (R == MR && V == 3 && pairs > 0) {
        pairs_of_steps(pairs, acc, a_packed, b, ldb, c, ldc, next_b != NULL ? next_b : a_packed);
        p = 2 * pairs;
    }
    for (; p < kc; p++) ck_gemm_tile_step_avx512(R, V, 3, acc, a_packed + p * MR, b + p * ldb);

    ck_gemm_store_tile_avx512(R, V, 3, acc, last, c, ldc, alpha, beta);
}

__attribute__((target("avx512f,fma"))) void
ck_gemm_kernel_avx512_8x48(int64_t kc, int rows, const float *a_packed, const float *b,
                           int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                           int64_t prefetch_b, const float *next_b) {
    (void)prefetch_b; /* the assembly asks for A and the next B sliver instead */
#define TILE(R) tile(R, 3, 0xFFFF, kc, a_packed, b, ldb, c, ldc, alpha, beta, next_b)
    switch (rows) { CK_GEMM_ROWS_1_TO_8(TILE) }
#undef TILE
}

/* The tile's first `cols` columns (1 <= cols < 48) in ceil(cols / 16) vectors, the last one
 * masked: a last B~ sliver narrower than the tile costs its own columns only. */
__attribute__((target("avx512f,fma"))) void
ck_gemm_kernel_avx512_8x48_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                                  const float *b, int64_t ldb, float *c, int64_t ldc,
                                  float alpha, float beta) {
    const __mmask16 last = ck_gemm_last_vector_mask(cols);
#define TILE_1(R) tile(R, 1, last, kc, a_packed, b, ldb, c, ldc, alpha, beta, NULL)
#define TILE_2(R) tile(R, 2, last, kc, a_packed, b, ldb, c, ldc, alpha, beta, NULL)
#define TILE_3(R) tile(R, 3, last, kc, a_packed, b, ldb, c, ldc, alpha, beta, NULL)
    switch ((cols + 15) / 16) {
    case 1: switch (rows) { CK_GEMM_ROWS_1_TO_8(TILE_1) } return;
    case 2: switch (rows) { CK_GEMM_ROWS_1_TO_8(TILE_2) } return;
    case 3: switch (rows) { CK_GEMM_ROWS_1_TO_8(TILE_3) } return;
    }
#undef TILE_1
#undef TILE_2
#undef TILE_3
}

#else
/* Not x86-64: no AVX-512 path (ck_gemm_path_supported reports it unsupported).
 * The typedef keeps the file from being an empty translation unit, which ISO C forbids. */
typedef int ck_gemm_kernel_avx512_8x48_unavailable;
#endif
