/* Internal: the pieces of the GEMM shared between the packed route (gemm_packed.c), the
 * microkernels (gemm_kernel_*.c, one per instruction set) and the instruction-set tables
 * (gemm_isa_*.c).
 *
 * Vocabulary (BLIS): the driver cuts C = alpha * op(A) * op(B) + beta * C into blocks, copies
 * ("packs") a block of op(A) and a block of op(B) into contiguous buffers laid out in the
 * order the microkernel reads them, and calls the microkernel once per MR x NR tile of C. */
#ifndef CK_GEMM_H
#define CK_GEMM_H

#include "ckernels.h"
#include "gemm_direct.h"

#include <stdint.h>

/* The microkernel: the first `rows` rows (1 <= rows <= MR) of an MR x NR tile of row-major C
 * (element (i, j) at c[i * ldc + j]), for i < rows, j < NR:
 *
 *     c[i*ldc + j] = alpha * sum_{p < kc} a_packed[p*MR + i] * b[p*ldb + j]
 *                    + beta * c[i*ldc + j]
 *
 * a_packed is an MR-row sliver of op(A): for each p, the MR values of column p, contiguous,
 * 64-byte aligned; only its first `rows` values are read. b is an NR-column sliver of op(B):
 * for each p, the NR values of row p, contiguous; rows ldb apart (NR for a packed sliver, or
 * B's own leading dimension when it is read in place). Rows past `rows` are neither computed nor
 * touched. A tile of fewer columns goes to the narrow microkernel below. NR is the SIMD
 * dimension.
 *
 * Every element is summed as one multiply-add chain in increasing p, starting from zero
 * (no split accumulators), then combined with alpha and beta the same way for every
 * element, whatever `rows` is. With beta == 0 the kernel does not read c (NaN in c is
 * overwritten). kc >= 1.
 *
 * prefetch_b (the table's kernel_prefetch_b_rows, >= 0): read by the AVX-512 12 x 32 kernel
 * (ck_gemm_kernel_avx512) only: at step p it asks for row p + prefetch_b of the B sliver
 * (while that row is one of its kc), into L1; 0: no asks. Only the two-FMA table gives more
 * than 0 (32): its 12 x 32 kernel asks on the packed routes other than PACKED, and PACKED's
 * 8 x 48 kernel (ck_gemm_kernel_avx512_8x48) ignores it and asks for the next B~ sliver
 * instead (next_b). The AVX2 and portable kernels ignore it too.
 *
 * next_b (NULL: nothing): memory the AVX-512 8 x 48 kernel and the AVX2 kernel ask L2 for
 * while they compute, one cache line every 8 steps from next_b on (about kc / 8 lines, at
 * most 2 * kc floats), for a whole tile of 3 (8 x 48) or 4 (AVX2) or more steps: the driver
 * gives each tile of a column of tiles its piece of the next B~ sliver. The other kernels
 * take it and ask for nothing. */
typedef void (*ck_gemm_microkernel)(int64_t kc, int rows, const float *a_packed,
                                    const float *b, int64_t ldb, float *c, int64_t ldc,
                                    float alpha, float beta, int64_t prefetch_b,
                                    const float *next_b);

/* A microkernel on the first `cols` columns of the tile only (1 <= cols < NR), otherwise as
 * above: the B sliver is still NR wide (its columns past cols, zeros when packed, may be
 * read), and C's columns past cols are neither read nor written. It computes every element
 * as the microkernel does: the bits are the same. */
typedef void (*ck_gemm_narrow_microkernel)(int64_t kc, int rows, int cols,
                                           const float *a_packed, const float *b, int64_t ldb,
                                           float *c, int64_t ldc, float alpha, float beta);

/* `case R: TILE(R); return;` for R = 1 .. 6, 1 .. 8 and 1 .. 12: a microkernel switches on
 * `rows` to an always-inline body instantiated for each constant row count (so that its
 * accumulators stay in registers), TILE being the kernel's macro that calls that body. */
#define CK_GEMM_ROWS_1_TO_6(TILE)                                                              \
    case 1: TILE(1); return;                                                                   \
    case 2: TILE(2); return;                                                                   \
    case 3: TILE(3); return;                                                                   \
    case 4: TILE(4); return;                                                                   \
    case 5: TILE(5); return;                                                                   \
    case 6: TILE(6); return;
#define CK_GEMM_ROWS_1_TO_8(TILE)                                                              \
    CK_GEMM_ROWS_1_TO_6(TILE)                                                                  \
    case 7: TILE(7); return;                                                                   \
    case 8: TILE(8); return;
#define CK_GEMM_ROWS_1_TO_12(TILE)                                                             \
    CK_GEMM_ROWS_1_TO_8(TILE)                                                                  \
    case 9: TILE(9); return;                                                                   \
    case 10: TILE(10); return;                                                                 \
    case 11: TILE(11); return;                                                                 \
    case 12: TILE(12); return;

/* One instruction set of the GEMM (gemm_isa_<path>.c): its microkernel with the tile it is
 * written for, and its direct kernels for products too small or too narrow to pay for
 * packing, with their epilogue and transposed copy of B (gemm_direct.h).
 *   mr, nr  tile of C computed by one microkernel call (nr: the SIMD dimension)
 *   narrow_kernel      the microkernel on a tile's first columns, for tiles of fewer than nr */
typedef struct {
    int mr, nr;
    ck_gemm_microkernel kernel;
    ck_gemm_narrow_microkernel narrow_kernel;
    ck_gemm_direct_broadcast direct_broadcast;
    ck_gemm_direct_row_panels direct_row_panels;
    ck_gemm_direct_dot direct_dot;
    ck_gemm_epilogue_block epilogue;
    ck_gemm_transpose transpose;
} ck_gemm_isa;

/* Tile sizes of each microkernel (the kernels are written for exactly these). */
#define CK_GEMM_AVX512_MR 12
#define CK_GEMM_AVX512_NR 32 /* two zmm registers */
#define CK_GEMM_AVX512_8X48_MR 8
#define CK_GEMM_AVX512_8X48_NR 48 /* three zmm registers */
#define CK_GEMM_AVX2_MR 6
#define CK_GEMM_AVX2_NR 16 /* two ymm registers */
#define CK_GEMM_PORTABLE_MR 6
#define CK_GEMM_PORTABLE_NR 8 /* two 4-float vectors: SSE on plain x86-64, NEON on aarch64 */

/* The microkernels and the instruction sets. The x86 ones exist only when compiling for
 * x86-64; elsewhere their architectures are reported unsupported and never used. */
void ck_gemm_kernel_portable(int64_t kc, int rows, const float *a_packed, const float *b,
                             int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                             int64_t prefetch_b, const float *next_b);
void ck_gemm_kernel_portable_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                                    const float *b, int64_t ldb, float *c, int64_t ldc,
                                    float alpha, float beta);
extern const ck_gemm_isa ck_gemm_isa_portable;
#if defined(__x86_64__)
void ck_gemm_kernel_avx2(int64_t kc, int rows, const float *a_packed, const float *b,
                         int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                         int64_t prefetch_b, const float *next_b);
void ck_gemm_kernel_avx2_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                                const float *b, int64_t ldb, float *c, int64_t ldc, float alpha,
                                float beta);
void ck_gemm_kernel_avx512(int64_t kc, int rows, const float *a_packed, const float *b,
                           int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                           int64_t prefetch_b, const float *next_b);
void ck_gemm_kernel_avx512_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                                  const float *b, int64_t ldb, float *c, int64_t ldc,
                                  float alpha, float beta);
void ck_gemm_kernel_avx512_8x48(int64_t kc, int rows, const float *a_packed, const float *b,
                                int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                                int64_t prefetch_b, const float *next_b);
void ck_gemm_kernel_avx512_8x48_narrow(int64_t kc, int rows, int cols, const float *a_packed,
                                       const float *b, int64_t ldb, float *c, int64_t ldc,
                                       float alpha, float beta);
extern const ck_gemm_isa ck_gemm_isa_avx2;
extern const ck_gemm_isa ck_gemm_isa_avx512;
extern const ck_gemm_isa ck_gemm_isa_avx512_8x48;
#endif

#endif
