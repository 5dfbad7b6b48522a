/* GEMM driver: C = alpha * op(A) * op(B) + beta * C (row-major), BLIS-style, optionally
 * followed by the epilogue of ck_sgemm_bias_relu (bias per column, ReLU) or of
 * ck_sgemm_relu_backward (the ReLU's derivative as a mask; gemm_direct.h).
 *
 *   for jc over n by NC:                 columns of C / op(B)
 *     for pc over k by KC:               depth; the first block uses the caller's beta,
 *                                        later ones beta = 1 (add to what is in C)
 *       pack B~ = op(B)[pc.., jc..]      kc x nc, NR-column slivers, shared by the threads,
 *                                        packed cooperatively, then a barrier
 *       each thread, over its own rectangle of C (equal row parts, columns aligned to NR):
 *         for ic over its rows by MC:
 *           pack A~ = op(A)[ic.., pc..]  mc x kc, MR-row slivers, private to the thread
 *           for jr over its columns of this jc block by NR:
 *             for ir over the mc rows by MR:
 *               microkernel: MR x NR tile of C += A~ sliver * B~ sliver
 *             in the last k block: the epilogue on these mc x NR of C, still in cache
 *       barrier (B~ is repacked next)
 *
 * Every element of C is computed by the same sequence of operations whatever the thread
 * count and whatever tile it falls in: the k blocking is fixed, the microkernel sums each
 * element in one chain, and partial tiles run the same microkernel (on their first rows, and
 * through a local buffer when they have fewer columns). So
 * results are bitwise independent of the thread split.
 *
 * Packing reads op(A) and op(B) in place, transposed or not; no matrix is copied whole.
 * Packing buffers are cached per thread and only grow (scratch.h). */
#include "gemm.h"
#include "scratch.h"
#include "threading.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Paths and their blocking tables
 * ------------------------------------------------------------------------------------- */

/* Blocking sizes for caches like Zen 4's (32 KB L1d, 1 MB L2 per core, shared L3). Only the
 * AVX-512 row was measured: single-threaded, alternating with OpenBLAS at 1024^3, KC 128, 256,
 * 384, 512, 768 and 1024 gave 0.89, 0.94, 0.98, 1.00, 1.01 and 1.04 times OpenBLAS's speed
 * (each k block reloads and rewrites the C tiles, so fewer blocks pay), MC 96..480 and NC
 * 1024..4096 made no difference beyond noise. The other rows are scaled to their tiles.
 *   KC: depth of a block; a B~ sliver, kc x nr floats, is read from L2 by every tile of a
 *       column of tiles.
 *   MC: the A~ block, mc x kc floats, fits L2.
 *   NC: the B~ block, kc x nc floats, in L3. */
static const ck_gemm_blocking blocking_portable = {
    CK_GEMM_PATH_PORTABLE, CK_GEMM_PORTABLE_MR,      CK_GEMM_PORTABLE_NR,           120, 256, 2048, ck_gemm_kernel_portable,
    ck_gemm_direct_broadcast_portable, ck_gemm_direct_dot_portable,
    ck_gemm_epilogue_block_portable, ck_gemm_transpose_portable};
#if defined(__x86_64__)
static const ck_gemm_blocking blocking_avx2 = {
    CK_GEMM_PATH_AVX2, CK_GEMM_AVX2_MR,      CK_GEMM_AVX2_NR,           144, 256, 4096, ck_gemm_kernel_avx2,
    ck_gemm_direct_broadcast_avx2, ck_gemm_direct_dot_avx2,
    ck_gemm_epilogue_block_avx2, ck_gemm_transpose_avx2};
static const ck_gemm_blocking blocking_avx512 = {
    CK_GEMM_PATH_AVX512, CK_GEMM_AVX512_MR,      CK_GEMM_AVX512_NR,           240, 1024, 2048, ck_gemm_kernel_avx512,
    ck_gemm_direct_broadcast_avx512, ck_gemm_direct_dot_avx512,
    ck_gemm_epilogue_block_avx512, ck_gemm_transpose_avx512};
#endif

_Static_assert(CK_GEMM_PORTABLE_MR <= CK_GEMM_MAX_MR && CK_GEMM_PORTABLE_NR <= CK_GEMM_MAX_NR &&
                   CK_GEMM_AVX2_MR <= CK_GEMM_MAX_MR && CK_GEMM_AVX2_NR <= CK_GEMM_MAX_NR &&
                   CK_GEMM_AVX512_MR <= CK_GEMM_MAX_MR && CK_GEMM_AVX512_NR <= CK_GEMM_MAX_NR,
               "the edge-tile buffer must hold every path's tile");

int ck_gemm_path_supported(ck_gemm_path path) {
    switch (path) {
    case CK_GEMM_PATH_PORTABLE: return 1;
#if defined(__x86_64__)
    case CK_GEMM_PATH_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CK_GEMM_PATH_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0;
#endif
    default: return 0;
    }
}

const ck_gemm_blocking *ck_gemm_blocking_for(ck_gemm_path path) {
    if (!ck_gemm_path_supported(path)) return NULL;
    switch (path) {
#if defined(__x86_64__)
    case CK_GEMM_PATH_AVX2: return &blocking_avx2;
    case CK_GEMM_PATH_AVX512: return &blocking_avx512;
#endif
    case CK_GEMM_PATH_PORTABLE: return &blocking_portable;
    default: return NULL;
    }
}

/* The current path's table, or NULL before the first use. Products read it with one atomic
 * load (checking the CPU's features on every call measured ~3% of a spiral training step). */
static _Atomic(const ck_gemm_blocking *) current_blocking = NULL;

/* CK_GEMM_PATH if it names a supported path, otherwise the fastest supported one. */
static ck_gemm_path default_path(void) {
    static const struct {
        const char *name;
        ck_gemm_path path;
    } names[] = {{"portable", CK_GEMM_PATH_PORTABLE},
                 {"avx2", CK_GEMM_PATH_AVX2},
                 {"avx512", CK_GEMM_PATH_AVX512}};
    const char *env = getenv("CK_GEMM_PATH");
    if (env != NULL)
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(env, names[i].name) == 0 && ck_gemm_path_supported(names[i].path))
                return names[i].path;
    if (ck_gemm_path_supported(CK_GEMM_PATH_AVX512)) return CK_GEMM_PATH_AVX512;
    if (ck_gemm_path_supported(CK_GEMM_PATH_AVX2)) return CK_GEMM_PATH_AVX2;
    return CK_GEMM_PATH_PORTABLE;
}

/* The current path's table, chosen on the first call. */
static const ck_gemm_blocking *current(void) {
    const ck_gemm_blocking *blk = atomic_load(&current_blocking);
    if (blk == NULL) {
        /* Several threads may get here at once; they all compute the same value, and one
         * set by ck_gemm_set_path in the meantime wins. */
        const ck_gemm_blocking *expected = NULL, *chosen = ck_gemm_blocking_for(default_path());
        blk = atomic_compare_exchange_strong(&current_blocking, &expected, chosen) ? chosen
                                                                                   : expected;
    }
    return blk;
}

ck_gemm_path ck_gemm_get_path(void) { return current()->path; }

int ck_gemm_set_path(ck_gemm_path path) {
    const ck_gemm_blocking *blk = ck_gemm_blocking_for(path);
    if (blk == NULL) return -1;
    atomic_store(&current_blocking, blk);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Packing buffers
 * ------------------------------------------------------------------------------------- */

/* A~ of each thread, and B~ of the thread that calls ck_sgemm (shared with its team). */
static _Thread_local ck_scratch a_scratch;
static _Thread_local ck_scratch b_scratch;
/* One B~ sliver of each thread, when it packs its own (gemm_thread). */
static _Thread_local ck_scratch sliver_scratch;

/* ---------------------------------------------------------------------------------------
 * Packing
 * ------------------------------------------------------------------------------------- */

static inline int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

/* Packing moves data in vectors, inline: a memcpy call per 128-byte row of a sliver, or one
 * scalar store per float, cost more than the copying itself for the panels of a small product
 * (32x1024x1024 with B transposed, 2 threads: 0.62x the time; with B as stored, unchanged).
 * The packing functions are compiled per instruction set (CK_VECTORIZED); f4 is SSE2 on
 * plain x86-64, NEON on aarch64. */
typedef float f4 __attribute__((vector_size(4 * sizeof(float))));
static inline f4 load4(const float *p) {
    f4 v;
    __builtin_memcpy_inline(&v, p, sizeof v);
    return v;
}
static inline void store4(float *p, f4 v) { __builtin_memcpy_inline(p, &v, sizeof v); }

/* dst[0 .. n) = src[0 .. n): 64 bytes at a time (one zmm in the AVX-512 clone of a packing
 * function), then 4 floats, then one. */
static inline void copy_floats(float *dst, const float *src, int64_t n) {
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) __builtin_memcpy_inline(dst + j, src + j, 16 * sizeof(float));
    for (; j + 4 <= n; j += 4) store4(dst + j, load4(src + j));
    for (; j < n; j++) dst[j] = src[j];
}

/* Asks for the cache lines of src[0 .. n), n >= 1, ahead of their use. */
static inline void prefetch_floats(const float *src, int64_t n) {
    for (int64_t j = 0; j < n; j += 16) __builtin_prefetch(src + j, 0, 3);
    __builtin_prefetch(src + n - 1, 0, 3);
}

/* Rows ahead of the one being copied whose lines copy_strip asks for. */
enum { PREFETCH_AHEAD = 32 };

/* dst[p*stride .. + width) = m[(p0 + p)*ld + col0 .. + width) for p < kc: one sliver of a
 * matrix read as stored, a piece of each of kc rows. The pieces are ld floats apart: for long
 * rows (4 KB at 1024 floats) each is on another page, where the hardware prefetcher does not
 * follow, and would wait for memory. So the piece PREFETCH_AHEAD rows further is asked for
 * first. (The MLP's forward products at batch 256, whose weights come from memory: 0.95x the
 * time in a training step. Asking for the next sliver's first rows too, while copying this
 * one's last, made them 1.04-1.06x slower while other tenants loaded the host's memory.) */
static inline void copy_strip(float *dst, int64_t stride, const float *m, int64_t ld, int64_t p0,
                              int64_t kc, int64_t col0, int64_t width) {
    for (int64_t p = 0; p < kc; p++) {
        if (p + PREFETCH_AHEAD < kc)
            prefetch_floats(m + (p0 + p + PREFETCH_AHEAD) * ld + col0, width);
        copy_floats(dst + p * stride, m + (p0 + p) * ld + col0, width);
    }
}

/* dst[p*ldd + i] = src[i*lds + p] for i < rows, p < cols: a rows x cols block transposed,
 * in 4 x 4 blocks held in registers (rows and columns past the last whole block one by one). */
static void transpose_block(int64_t rows, int64_t cols, const float *src, int64_t lds,
                            float *dst, int64_t ldd) {
    int64_t i = 0;
    for (; i + 4 <= rows; i += 4) {
        const float *s = src + i * lds;
        int64_t p = 0;
        for (; p + 4 <= cols; p += 4) {
            /* r_q holds row i+q, columns p..p+3; c_q column p+q, rows i..i+3. */
            const f4 r0 = load4(s + p), r1 = load4(s + lds + p), r2 = load4(s + 2 * lds + p),
                     r3 = load4(s + 3 * lds + p);
            const f4 lo01 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5),
                     hi01 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7),
                     lo23 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5),
                     hi23 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
            float *d = dst + p * ldd + i;
            store4(d, __builtin_shufflevector(lo01, lo23, 0, 1, 4, 5));
            store4(d + ldd, __builtin_shufflevector(lo01, lo23, 2, 3, 6, 7));
            store4(d + 2 * ldd, __builtin_shufflevector(hi01, hi23, 0, 1, 4, 5));
            store4(d + 3 * ldd, __builtin_shufflevector(hi01, hi23, 2, 3, 6, 7));
        }
        for (; p < cols; p++)
            for (int64_t q = 0; q < 4; q++) dst[p * ldd + i + q] = s[q * lds + p];
    }
    for (; i < rows; i++)
        for (int64_t p = 0; p < cols; p++) dst[p * ldd + i] = src[i * lds + p];
}

/* Packs op(A)[i0 .. i0+mc, p0 .. p0+kc) into ceil(mc / mr) slivers of mr rows. Sliver s
 * starts at dst + s*mr*kc and holds element (s*mr + i, p) at [p*mr + i]: the mr values of
 * one column of the sliver are contiguous. The last sliver's rows past mc are left as they
 * are: the microkernel computes only a tile's valid rows and never reads them.
 * op(A)(i, p) is a[i*lda + p], or a[p*lda + i] when trans. */
CK_VECTORIZED static void pack_a(int trans, const float *a, int64_t lda, int64_t i0, int64_t p0,
                                 int64_t mc, int64_t kc, int mr, float *dst) {
    for (int64_t s = 0; s * mr < mc; s++, dst += (int64_t)mr * kc) {
        int64_t rows = min64(mr, mc - s * mr);
        int64_t row0 = i0 + s * mr;
        if (trans) {
            /* Column p of op(A) is row p of A: rows contiguous values per p. */
            copy_strip(dst, mr, a, lda, p0, kc, row0, rows);
        } else {
            /* Row i of op(A) is row i of A: the sliver is its transpose. */
            transpose_block(rows, kc, a + row0 * lda + p0, lda, dst, mr);
        }
    }
}

/* Packs slivers [s_begin, s_end) of op(B)[p0 .. p0+kc, j0 .. j0+nc) cut into slivers of nr
 * columns. Sliver s starts at dst + s*nr*kc and holds element (p, s*nr + j) at [p*nr + j]:
 * the nr values of one row of the sliver are contiguous. Columns past nc are zeros.
 * op(B)(p, j) is b[p*ldb + j], or b[j*ldb + p] when trans. */
CK_VECTORIZED static void pack_b(int trans, const float *b, int64_t ldb, int64_t p0, int64_t j0,
                                 int64_t nc, int64_t kc, int nr, int64_t s_begin, int64_t s_end,
                                 float *dst) {
    for (int64_t s = s_begin; s < s_end; s++) {
        float *d = dst + s * nr * kc;
        int64_t cols = min64(nr, nc - s * nr);
        int64_t col0 = j0 + s * nr;
        if (trans) {
            /* Column j of op(B) is row j of B: the sliver is its transpose. */
            transpose_block(cols, kc, b + col0 * ldb + p0, ldb, d, nr);
        } else {
            /* Row p of op(B) is row p of B: cols contiguous values per p. */
            copy_strip(d, nr, b, ldb, p0, kc, col0, cols);
        }
        for (int64_t p = 0; cols < nr && p < kc; p++)
            for (int64_t j = cols; j < nr; j++) d[p * nr + j] = 0.0f;
    }
}

/* ---------------------------------------------------------------------------------------
 * The blocked product
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const ck_gemm_blocking *blk;
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
    float *b_packed; /* B~, shared: kc_max x nc_max floats */
    const ck_gemm_epilogue *epilogue; /* NULL: none */
} gemm_problem;

/* One mr x nr tile (mr, nr at most the path's MR, NR) of C at c. The microkernel computes
 * the first mr rows of a tile itself; a tile of fewer than NR columns goes through an MR x NR
 * buffer holding its valid part of C, so that every element sees the same operations. */
static void gemm_tile(const ck_gemm_blocking *blk, int64_t kc, const float *ap, const float *bp,
                      int64_t ldbp, float *c, int64_t ldc, int64_t mr, int64_t nr, float alpha,
                      float beta) {
    if (nr == blk->nr) {
        blk->kernel(kc, (int)mr, ap, bp, ldbp, c, ldc, alpha, beta);
        return;
    }
    _Alignas(64) float buf[CK_GEMM_MAX_MR * CK_GEMM_MAX_NR]; /* mr x blk->nr, ld nr */
    const int64_t ldbuf = blk->nr;
    if (beta != 0.0f) {
        /* The kernel reads whole rows: zeros past the valid columns. */
        memset(buf, 0, sizeof(float) * (size_t)(mr * blk->nr));
        for (int64_t i = 0; i < mr; i++)
            memcpy(buf + i * ldbuf, c + i * ldc, (size_t)nr * sizeof(float));
    }
    blk->kernel(kc, (int)mr, ap, bp, ldbp, buf, ldbuf, alpha, beta);
    for (int64_t i = 0; i < mr; i++)
        memcpy(c + i * ldc, buf + i * ldbuf, (size_t)nr * sizeof(float));
}

/* The tm x tn grid of thread rectangles for `threads` threads: the factorization whose
 * busiest thread has the fewest tiles of an m x n block; on a tie, more row parts (fewer
 * duplicate A~ packs). */
static void thread_grid(int threads, int64_t m, int64_t n, const ck_gemm_blocking *blk,
                        int *tm, int *tn) {
    int64_t mtiles = (m + blk->mr - 1) / blk->mr, ntiles = (n + blk->nr - 1) / blk->nr;
    int64_t best = INT64_MAX;
    *tm = threads;
    *tn = 1;
    for (int rows = 1; rows <= threads; rows++) {
        if (threads % rows != 0) continue;
        int cols = threads / rows;
        int64_t busiest = ((mtiles + rows - 1) / rows) * ((ntiles + cols - 1) / cols);
        if (busiest <= best) {
            best = busiest;
            *tm = rows;
            *tn = cols;
        }
    }
}

/* A barrier of the enclosing team, kept out of line so that the serial case makes no call
 * into the OpenMP runtime at all. */
__attribute__((noinline)) static void team_barrier(void) {
#pragma omp barrier
}

/* The whole product as seen by thread `tid` of `threads` (all threads call it with the same
 * problem). With threads > 1 it must run inside a parallel region of that many threads. */
static void gemm_thread(const gemm_problem *g, int tid, int threads) {
    const ck_gemm_blocking *blk = g->blk;
    const int mr = blk->mr, nr = blk->nr;

    /* This thread's rectangle: rows [m0, m1) of C, and within every jc block the column
     * part tj of tn (split per block, so that every jc block keeps all threads busy). The
     * rows are split evenly, not in whole tiles: the microkernel computes a partial tile's
     * rows at their own cost (256x1024x1024 NN, 2 threads: 132 + 124 rows became 128 + 128,
     * 0.95x the time; NT 0.97x). */
    int tm, tn;
    thread_grid(threads, g->m, min64(g->n, blk->nc), blk, &tm, &tn);
    const int ti = tid / tn, tj = tid % tn;
    int64_t m0, m1;
    ck_split_range(g->m, 1, ti, tm, &m0, &m1);

    /* A~: at most mc rows (rounded up to whole slivers) by kc. */
    float *a_packed = NULL;
    if (m1 > m0) {
        const int64_t rows = (min64(blk->mc, m1 - m0) + mr - 1) / mr * mr;
        a_packed = ck_scratch_get(&a_scratch, (size_t)rows * (size_t)min64(blk->kc, g->k));
    }

    /* With one row part and at most one mc block of rows (a small batch), each B~ sliver is
     * read by a few tiles of one thread only. When B~ would also be larger than L2 (larger
     * than the A~ block, which is sized to fit it), every thread takes the slivers of its own
     * columns, one at a time, right before its tiles read them: no shared B~ going through
     * L3, no barriers. (32x784x1024, 32x1024x1024 NN and NT, 2 threads: 0.95x the time;
     * 128^3, whose B~ fits L2, was 1.015x, so it keeps the shared B~.) A whole sliver of B
     * as stored (not transposed) is not even packed: the microkernel reads its rows in
     * place, ldb apart, and the loads overlap its arithmetic instead of preceding it
     * (32x1024x1024 and 32x784x1024 NN, 2 threads: 0.80x the time, 11 alternating runs).
     * The same tiles see the same values: the bits do not change. */
    const int own_slivers = tm == 1 && g->m <= blk->mc &&
                            min64(g->k, blk->kc) * min64(g->n, blk->nc) > blk->mc * blk->kc;
    float *b_sliver = NULL;
    if (own_slivers)
        b_sliver = ck_scratch_get(&sliver_scratch, (size_t)nr * (size_t)min64(blk->kc, g->k));
    const int shared = threads > 1 && !own_slivers; /* B~ shared: barriers */

    for (int64_t jc = 0; jc < g->n; jc += blk->nc) {
        const int64_t nc = min64(blk->nc, g->n - jc);
        const int64_t slivers = (nc + nr - 1) / nr;
        int64_t n0, n1; /* columns [n0, n1) of this jc block */
        ck_split_range(nc, nr, tj, tn, &n0, &n1);

        for (int64_t pc = 0; pc < g->k; pc += blk->kc) {
            const int64_t kc = min64(blk->kc, g->k - pc);
            const float beta = pc == 0 ? g->beta : 1.0f;

            /* Shared B~: every thread packs its share of the slivers, then waits for the rest. */
            if (!own_slivers) {
                int64_t s0, s1;
                ck_split_range(slivers, 1, tid, threads, &s0, &s1);
                pack_b(g->trans_b, g->b, g->ldb, pc, jc, nc, kc, nr, s0, s1, g->b_packed);
                if (shared) team_barrier();
            }

            for (int64_t ic = m0; ic < m1; ic += blk->mc) {
                const int64_t mc = min64(blk->mc, m1 - ic);
                pack_a(g->trans_a, g->a, g->lda, ic, pc, mc, kc, mr, a_packed);
                for (int64_t jr = n0; jr < n1; jr += nr) {
                    /* The B sliver of columns jc + jr .., its rows ldbp apart. */
                    const float *bp = b_sliver;
                    int64_t ldbp = nr;
                    if (!own_slivers) {
                        bp = g->b_packed + (jr / nr) * nr * kc;
                    } else if (!g->trans_b && nc - jr >= nr) {
                        bp = g->b + pc * g->ldb + jc + jr; /* B as stored */
                        ldbp = g->ldb;
                    } else {
                        pack_b(g->trans_b, g->b, g->ldb, pc, jc + jr, nc - jr, kc, nr, 0, 1,
                               b_sliver);
                    }
                    /* In the last k block, the rows of the ReLU's mask that this column's
                     * epilogue reads are asked for while its tiles compute: they are ldy
                     * apart, each on another page for long rows, and would wait for memory
                     * (the MLP's dX = dY·Wᵀ at batch 256, in a training step: 0.97x the time). */
                    const int last_block = pc + kc == g->k;
                    const float *mask = NULL;
                    if (last_block && g->epilogue != NULL && g->epilogue->mask != NULL &&
                        g->epilogue->mcs == 1)
                        mask = ck_gemm_epilogue_at(*g->epilogue, ic, jc + jr).mask;
                    const int64_t cols = min64(nr, n1 - jr); /* of this column of tiles */
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        const float *ap = a_packed + (ir / mr) * mr * kc;
                        float *c = g->c + (ic + ir) * g->ldc + jc + jr;
                        const int64_t rows = min64(mr, mc - ir);
                        if (mask != NULL)
                            for (int64_t i = ir; i < ir + rows; i++)
                                prefetch_floats(mask + i * g->epilogue->mrs, cols);
                        gemm_tile(blk, kc, ap, bp, ldbp, c, g->ldc, rows, cols, g->alpha, beta);
                    }
                    if (g->epilogue != NULL && last_block) {
                        /* This column of tiles is finished: its epilogue while it is in
                         * cache. (Run on each tile right after the microkernel, it measured
                         * 3% slower than separate passes at 256x784x1024; here, as fast.) */
                        const ck_gemm_epilogue e = ck_gemm_epilogue_at(*g->epilogue, ic, jc + jr);
                        blk->epilogue(mc, cols, g->c + ic * g->ldc + jc + jr, g->ldc, &e);
                    }
                }
            }

            /* Everyone is done reading B~ before it is repacked. */
            if (shared) team_barrier();
        }
    }
}

/* The product on a team of `threads` threads (> 1). Out of line, like team_barrier, so
 * that the serial path of ck_sgemm makes no OpenMP runtime call at all. */
__attribute__((noinline)) static void gemm_parallel(const gemm_problem *g, int threads) {
#pragma omp parallel num_threads(threads)
    {
        /* The runtime may give fewer threads than asked: use the team's real size. */
        gemm_thread(g, omp_get_thread_num(), omp_get_num_threads());
    }
}

/* C = beta * C, then the epilogue (NULL: none), for alpha == 0 or k == 0. beta == 0 writes
 * zeros without reading C; beta == 1 leaves C as it is. */
typedef struct {
    int64_t n, ldc;
    float beta;
    float *c;
    const ck_gemm_epilogue *epilogue;
    ck_gemm_epilogue_block apply; /* the path's epilogue */
} scale_args;

static void scale_rows(const void *args, int64_t begin, int64_t end) {
    const scale_args *s = args;
    for (int64_t i = begin; i < end; i++) {
        float *row = s->c + i * s->ldc;
        if (s->beta == 0.0f)
            memset(row, 0, (size_t)s->n * sizeof(float));
        else if (s->beta != 1.0f)
            for (int64_t j = 0; j < s->n; j++) row[j] *= s->beta;
        if (s->epilogue != NULL) {
            const ck_gemm_epilogue e = ck_gemm_epilogue_at(*s->epilogue, i, 0);
            s->apply(1, s->n, row, s->ldc, &e);
        }
    }
}

static void scale_c(const ck_gemm_blocking *blk, int64_t m, int64_t n, float beta, float *c,
                    int64_t ldc, const ck_gemm_epilogue *e) {
    if (beta == 1.0f && e == NULL) return;
    scale_args args = {n, ldc, beta, c, e, blk->epilogue};
    ck_parallel_for(m, 1, ck_threads_for(m * n, CK_PARALLEL_MIN_ELEMENTS), scale_rows, &args);
}

/* ---------------------------------------------------------------------------------------
 * Direct products (no packing) for small or narrow shapes
 * ------------------------------------------------------------------------------------- */

/* The dot form serves products with at least DOT_MIN_K terms per sum and either at most
 * DOT_MAX_N columns, where the broadcast form and the microkernel would waste most vector
 * lanes, or B transposed and at most DOT_MAX_M rows (a small batch's dX = dY·Wᵀ), where both
 * operands are read in place along k and packing B, a transpose, would cost more than it
 * saves (32x1024x1024 NT, one thread: 0.78x the time; from 64 rows on the packed product is
 * as fast or faster). */
#define DOT_MAX_N 15
#define DOT_MAX_M 32
#define DOT_MIN_K 64
/* Products of at most this many multiply-adds skip packing: the broadcast form. */
#define DIRECT_MAX_WORK CK_GEMM_MIN_WORK_PER_THREAD

/* C = alpha * op(A) * op(B) + beta * C by the dot form: X = op(A) must have rows along p
 * (A not transposed); Yt = op(B)^T is B itself when transposed, else a transposed copy. */
static void gemm_dot(const ck_gemm_blocking *blk, int trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc, const ck_gemm_epilogue *e) {
    if (!trans_b) {
        float *bt = ck_scratch_get(&b_scratch, (size_t)(n * k));
        blk->transpose(k, n, b, ldb, bt);
        b = bt;
        ldb = k;
    }
    blk->direct_dot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e);
}

/* The transposed problem of the broadcast form (below) on D's columns [begin, end), that is
 * C's rows; e is D's epilogue (NULL: none). */
static inline void broadcast_transposed_columns(const ck_gemm_blocking *blk, int trans_b,
                                                int64_t n, int64_t k, float alpha,
                                                const float *a, int64_t lda, const float *b,
                                                int64_t ldb, float beta, float *c, int64_t ldc,
                                                const ck_gemm_epilogue *e, int64_t begin,
                                                int64_t end) {
    const ck_gemm_epilogue ej =
        e != NULL ? ck_gemm_epilogue_at(*e, 0, begin) : (ck_gemm_epilogue){0};
    blk->direct_broadcast(n, end - begin, k, alpha, b, trans_b ? ldb : 1, trans_b ? 1 : ldb,
                          a + begin, lda, beta, c + begin * ldc, 1, ldc, e != NULL ? &ej : NULL);
}

/* broadcast_transposed_columns as one share of a parallel run. */
typedef struct {
    const ck_gemm_blocking *blk;
    int trans_b;
    int64_t n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    const ck_gemm_epilogue *e;
} transposed_args;

static void broadcast_transposed(const void *args, int64_t begin, int64_t end) {
    const transposed_args *t = args;
    broadcast_transposed_columns(t->blk, t->trans_b, t->n, t->k, t->alpha, t->a, t->lda, t->b,
                                 t->ldb, t->beta, t->c, t->ldc, t->e, begin, end);
}

/* C = alpha * op(A) * op(B) + beta * C by the broadcast form, which wants Y's rows
 * contiguous and vectorizes along D's columns:
 *   B not transposed:  D = C, X = op(A), Y = B; unless A is transposed and C is taller than
 *                      wide, where the transposed problem vectorizes better:
 *   A transposed:      D = C^T (n x m), X = op(B)^T, Y = op(A)^T = A as stored, and the
 *                      epilogue's bias (one per column of C) indexed by D's row; its columns
 *                      (C's rows) split between `threads` threads in shares of 32;
 *   otherwise (N, T):  D = C, X = A, Y = a k x n copy of op(B). */
static void gemm_broadcast(const ck_gemm_blocking *blk, int trans_a, int trans_b, int64_t m,
                           int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                           const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                           const ck_gemm_epilogue *e, int threads) {
    if (trans_a && (trans_b || m > n)) {
        /* D's row i is C's column i: the bias and mask strides swap. */
        const ck_gemm_epilogue et =
            e != NULL ? ck_gemm_epilogue_transposed(*e) : (ck_gemm_epilogue){0};
        if (threads <= 1) {
            broadcast_transposed_columns(blk, trans_b, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                                         e != NULL ? &et : NULL, 0, m);
            return;
        }
        const transposed_args args = {blk, trans_b, n, k, lda, ldb, ldc, alpha, beta,
                                      a, b, c, e != NULL ? &et : NULL};
        ck_parallel_for(m, 32, threads, broadcast_transposed, &args);
        return;
    }
    if (trans_b) {
        float *copy = ck_scratch_get(&b_scratch, (size_t)(k * n));
        blk->transpose(n, k, b, ldb, copy);
        b = copy;
        ldb = n;
    }
    blk->direct_broadcast(m, n, k, alpha, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, ldb,
                          beta, c, ldc, 1, e);
}

/* The whole GEMM, then the epilogue e (NULL: none). Inlined into ck_sgemm with e == NULL,
 * so that the plain product tests nothing more than it must: tiny products (the spiral's
 * 20x2x100) take about 0.2 us, where a few nanoseconds show. */
static inline __attribute__((always_inline)) void
gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
     const ck_gemm_epilogue *e) {
    if (m <= 0 || n <= 0) return;
    const ck_gemm_blocking *blk = current();
    if (alpha == 0.0f || k <= 0) {
        scale_c(blk, m, n, beta, c, ldc, e);
        return;
    }

    /* m*n*k, saturated (m*n fits: it is the size of C). */
    const int64_t mn = m * n;
    const int64_t work = mn > INT64_MAX / k ? INT64_MAX : mn * k;
    if (k >= DOT_MIN_K && !trans_a && (n <= DOT_MAX_N || (trans_b && m <= DOT_MAX_M))) {
        gemm_dot(blk, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e);
        return;
    }
    if (work <= DIRECT_MAX_WORK) {
        gemm_broadcast(blk, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e, 1);
        return;
    }
    /* A transposed and C tall with at most DOT_MAX_N columns (dW = Xᵀ·dY of a layer with few
     * outputs): the packed path would run every tile through its edge buffer, computing NR
     * columns for n; the broadcast form's transposed problem vectorizes along C's rows
     * instead, on several threads when the work pays (the MLP's dW of its 10 outputs,
     * 2 threads: 1024x10x256 110 -> 63 us, 1024x10x32 27 -> 17 us). */
    if (trans_a && n <= DOT_MAX_N && m > n) {
        gemm_broadcast(blk, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, e,
                       ck_threads_for(work, CK_GEMM_MIN_WORK_PER_THREAD));
        return;
    }

    gemm_problem g = {.blk = blk, .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n,
                      .k = k, .alpha = alpha, .beta = beta, .a = a, .b = b, .lda = lda,
                      .ldb = ldb, .ldc = ldc, .c = c, .b_packed = NULL, .epilogue = e};

    /* B~ belongs to the calling thread: allocated here, before any parallel region. */
    const int64_t nc_max = min64(blk->nc, (n + blk->nr - 1) / blk->nr * blk->nr);
    g.b_packed = ck_scratch_get(&b_scratch, (size_t)nc_max * (size_t)min64(blk->kc, k));

    const int threads = ck_threads_for(work, CK_GEMM_MIN_WORK_PER_THREAD);
    if (threads > 1)
        gemm_parallel(&g, threads);
    else
        gemm_thread(&g, 0, 1);
}

void ck_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc) {
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
}

void ck_sgemm_bias_relu(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc, const float *bias, int relu) {
    /* One bias per column of C. */
    const ck_gemm_epilogue e = {.bias = bias, .rs = 0, .cs = 1, .relu = relu != 0};
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
         bias != NULL || relu ? &e : NULL);
}

void ck_sgemm_relu_backward(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const float *a, int64_t lda, const float *b,
                            int64_t ldb, float beta, float *c, int64_t ldc, const float *y,
                            int64_t ldy) {
    const ck_gemm_epilogue e = {.mask = y, .mrs = ldy, .mcs = 1};
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &e);
}
