/* The GEMM's packed routes (gemm_plan.h), PACKED and PACKED_OWN_SLIVERS(_IN_PLACE):
 * C = alpha * op(A) * op(B) + beta * C (row-major), BLIS-style, then the epilogue (NULL:
 * none; gemm_direct.h).
 * Block sizes (MC, KC, NC) come from the table, the tile (MR x NR) from its instruction set:
 * for PACKED the table's packed_isa where it has one (the two-FMA table's 8 x 48 kernel).
 *
 *   for jc over n by NC:                 columns of C / op(B) (equal blocks of at most NC)
 *     for pc over k by KC:               depth; the first block uses the caller's beta,
 *                                        later ones beta = 1 (add to what is in C)
 *       pack B~ = op(B)[pc.., jc..]      kc x nc, NR-column slivers, shared by the threads,
 *                                        packed cooperatively, then a barrier
 *       each thread, over its own rectangle of C (equal row parts, columns aligned to NR):
 *         for ic over its rows by MC (equal blocks of at most MC; all its rows at once with
 *         own slivers, see gemm_thread):
 *           pack A~ = op(A)[ic.., pc..]  mc x kc, MR-row slivers, private to the thread
 *           for jr over its columns of this jc block by NR:
 *             for ir over the mc rows by MR:
 *               microkernel: MR x NR tile of C += A~ sliver * B~ sliver (with B~ shared,
 *               each tile also gives the kernel its piece of the next B~ sliver to ask L2
 *               for: the column of tiles brings in the next column's sliver)
 *             in the last k block: the epilogue on these mc x NR of C, still in cache
 *           (PACKED_ALONG_ROWS: the same tiles with the ir loop outside the jr loop, and the
 *           epilogue on each MR-row panel of the thread's columns)
 *       barrier (B~ is repacked next)
 *
 * Every element of C is computed by the same sequence of operations whatever the thread
 * count and whatever tile it falls in: the k blocking is fixed, the microkernel sums each
 * element in one chain, and partial tiles run the same microkernel on their first rows, and
 * its narrow form, or the same microkernel through a local buffer, when they have fewer
 * columns. So results are bitwise independent of the thread split.
 *
 * Packing reads op(A) and op(B) in place, transposed or not; no matrix is copied whole.
 * Packing buffers are cached per thread and only grow (scratch.h). */
#include "gemm_plan.h"
#include "scratch.h"

#include <string.h>

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

/* Packing moves data in vectors, inline: a memcpy call per 128-byte row of a sliver, or one
 * scalar store per float, cost more than the copying itself for the panels of a small
 * product. The packing functions are compiled per instruction set (CK_VECTORIZED); f4 is SSE2 on
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

/* Asks L2 for piece `part` of `parts` of op(B)[p0 .. p0+kc, col0 .. col0+cols): the B sliver
 * that a thread packing its own slivers packs next, asked for a piece per tile while the
 * tiles of the current sliver compute, so that its reads from memory overlap the arithmetic
 * and the packing finds them in cache. Into L2, not L1: there they would compete with the
 * slivers the microkernel reads. op(B)(p, j) is b[p*ldb + j], or b[j*ldb + p] when trans;
 * the pieces are ranges of B's rows (of p, or of j when trans), each of at most max_lines
 * cache lines (at least one row): with few tiles the pieces cover only the start of the
 * sliver, the packing asks for the rest. */
static inline void prefetch_sliver_piece(int trans, const float *b, int64_t ldb, int64_t p0,
                                         int64_t kc, int64_t col0, int64_t cols, int64_t part,
                                         int64_t parts, int64_t max_lines) {
    const int64_t rows = trans ? cols : kc, width = trans ? kc : cols;
    const float *first = trans ? b + col0 * ldb + p0 : b + p0 * ldb + col0;
    const int64_t lines_per_row = (width + 15) / 16;
    const int64_t per = ck_gemm_min64((rows + parts - 1) / parts,
                                      max_lines > lines_per_row ? max_lines / lines_per_row : 1);
    for (int64_t r = part * per; r < rows && r < (part + 1) * per; r++) {
        const float *row = first + r * ldb;
        for (int64_t j = 0; j < width; j += 16) __builtin_prefetch(row + j, 0, 2);
        __builtin_prefetch(row + width - 1, 0, 2);
    }
}

/* dst[p*stride .. + width) = m[(p0 + p)*ld + col0 .. + width) for p < kc: one sliver of a
 * matrix read as stored, a piece of each of kc rows. The pieces are ld floats apart: for long
 * rows (4 KB at 1024 floats) each is on another page, where the hardware prefetcher does not
 * follow, and would wait for memory. So the piece `ahead` rows further (the table's
 * prefetch_rows) is asked for first. */
static inline __attribute__((always_inline)) void
copy_strip_rows(float *dst, int64_t stride, const float *m, int64_t ld, int64_t p0, int64_t kc,
                int64_t col0, int64_t width, int64_t ahead) {
    for (int64_t p = 0; p < kc; p++) {
        if (p + ahead < kc) prefetch_floats(m + (p0 + p + ahead) * ld + col0, width);
        copy_floats(dst + p * stride, m + (p0 + p) * ld + col0, width);
    }
}

/* copy_strip_rows, with the width of a whole sliver (width == stride: a tile's mr or nr, 6, 8
 * or 12 rows, 8, 16, 32 or 48 columns; gemm.h) a constant: each piece is then copied by a few
 * vector moves, not a loop, whose overhead would be most of the packing's cost in a shallow
 * k block (a small batch's dW = Xᵀ·dY). */
static inline void copy_strip(float *dst, int64_t stride, const float *m, int64_t ld, int64_t p0,
                              int64_t kc, int64_t col0, int64_t width, int64_t ahead) {
#define WHOLE(W)                                                                               \
    case W: copy_strip_rows(dst, W, m, ld, p0, kc, col0, W, ahead); return;
    if (width == stride)
        switch (width) { WHOLE(6) WHOLE(8) WHOLE(12) WHOLE(16) WHOLE(32) WHOLE(48) }
#undef WHOLE
    copy_strip_rows(dst, stride, m, ld, p0, kc, col0, width, ahead);
}

/* dst[p*ldd + i] = src[i*lds + p] for i < rows, p < cols: a rows x cols block transposed,
 * in 4 x 4 blocks held in registers (rows and columns past the last whole block one by one),
 * every 4 rows through a chunk of the columns. A dst larger than TRANSPOSE_L1_FLOATS (a
 * sliver of B transposed, 32 or 48 columns by kc) is filled TRANSPOSE_COLUMNS columns at a
 * time, so that the chunk's part of it stays in L1 while all its rows fill it, rather than
 * having its lines, 16 bytes written per 4 rows, fetched again for every 4 rows. A smaller
 * dst (an A sliver of mr rows in a k block of up to 682) stays in L1 anyway and is filled in
 * one chunk: each group of 4 source rows is then read straight through. */
enum { TRANSPOSE_L1_FLOATS = 8192, TRANSPOSE_COLUMNS = 64 };
static void transpose_block(int64_t rows, int64_t cols, const float *src, int64_t lds,
                            float *dst, int64_t ldd) {
    const int64_t chunk = rows * cols > TRANSPOSE_L1_FLOATS ? TRANSPOSE_COLUMNS : cols;
    for (int64_t p0 = 0; p0 < cols; p0 += chunk) {
        const int64_t p1 = ck_gemm_min64(cols, p0 + chunk);
        int64_t i = 0;
        for (; i + 4 <= rows; i += 4) {
            const float *s = src + i * lds;
            int64_t p = p0;
            for (; p + 4 <= p1; p += 4) {
                /* r_q holds row i+q, columns p..p+3; c_q column p+q, rows i..i+3. */
                const f4 r0 = load4(s + p), r1 = load4(s + lds + p),
                         r2 = load4(s + 2 * lds + p), r3 = load4(s + 3 * lds + p);
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
            for (; p < p1; p++)
                for (int64_t q = 0; q < 4; q++) dst[p * ldd + i + q] = s[q * lds + p];
        }
        for (; i < rows; i++)
            for (int64_t p = p0; p < p1; p++) dst[p * ldd + i] = src[i * lds + p];
    }
}

/* Packs op(A)[i0 .. i0+mc, p0 .. p0+kc) into ceil(mc / mr) slivers of mr rows. Sliver s
 * starts at dst + s*mr*kc and holds element (s*mr + i, p) at [p*mr + i]: the mr values of
 * one column of the sliver are contiguous. The last sliver's rows past mc are left as they
 * are: the microkernel computes only a tile's valid rows and never reads them.
 * op(A)(i, p) is a[i*lda + p], or a[p*lda + i] when trans; ahead: copy_strip's. */
CK_VECTORIZED static void pack_a(int trans, const float *a, int64_t lda, int64_t i0, int64_t p0,
                                 int64_t mc, int64_t kc, int mr, int64_t ahead, float *dst) {
    for (int64_t s = 0; s * mr < mc; s++, dst += (int64_t)mr * kc) {
        int64_t rows = ck_gemm_min64(mr, mc - s * mr);
        int64_t row0 = i0 + s * mr;
        if (trans) {
            /* Column p of op(A) is row p of A: rows contiguous values per p. */
            copy_strip(dst, mr, a, lda, p0, kc, row0, rows, ahead);
        } else {
            /* Row i of op(A) is row i of A: the sliver is its transpose. */
            transpose_block(rows, kc, a + row0 * lda + p0, lda, dst, mr);
        }
    }
}

/* Packs slivers [s_begin, s_end) of op(B)[p0 .. p0+kc, j0 .. j0+nc) cut into slivers of nr
 * columns. Sliver s starts at dst + s*nr*kc and holds element (p, s*nr + j) at [p*nr + j]:
 * the nr values of one row of the sliver are contiguous. Columns past nc are zeros.
 * op(B)(p, j) is b[p*ldb + j], or b[j*ldb + p] when trans; ahead: copy_strip's. */
CK_VECTORIZED static void pack_b(int trans, const float *b, int64_t ldb, int64_t p0, int64_t j0,
                                 int64_t nc, int64_t kc, int nr, int64_t s_begin, int64_t s_end,
                                 int64_t ahead, float *dst) {
    for (int64_t s = s_begin; s < s_end; s++) {
        float *d = dst + s * nr * kc;
        int64_t cols = ck_gemm_min64(nr, nc - s * nr);
        int64_t col0 = j0 + s * nr;
        if (trans) {
            /* Column j of op(B) is row j of B: the sliver is its transpose. */
            transpose_block(cols, kc, b + col0 * ldb + p0, ldb, d, nr);
        } else {
            /* Row p of op(B) is row p of B: cols contiguous values per p. */
            copy_strip(d, nr, b, ldb, p0, kc, col0, cols, ahead);
        }
        for (int64_t p = 0; cols < nr && p < kc; p++)
            for (int64_t j = cols; j < nr; j++) d[p * nr + j] = 0.0f;
    }
}

/* Asks for the rows of the ReLU's mask that the epilogue of a rows x cols tile of C at
 * (row0, col0) reads (e NULL, or without a mask read along rows: nothing). They are mrs apart,
 * each on another page for long rows, and would otherwise wait for memory after the tile. */
static inline void prefetch_mask_of_tile(const ck_gemm_epilogue *e, int64_t row0, int64_t rows,
                                         int64_t col0, int64_t cols) {
    if (e == NULL || e->mask == NULL || e->mcs != 1) return;
    const float *mask = ck_gemm_epilogue_at(*e, row0, col0).mask;
    for (int64_t i = 0; i < rows; i++) prefetch_floats(mask + i * e->mrs, cols);
}

/* ---------------------------------------------------------------------------------------
 * The blocked product
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const ck_gemm_table *t;
    const ck_gemm_isa *isa; /* whose microkernel computes the tiles (see ck_gemm_packed) */
    const ck_gemm_operands *g;
    float *b_packed; /* B~, shared: kc_max x nc_max floats */
    int b_in_place;  /* own slivers of B as stored read in place (PACKED_OWN_SLIVERS_IN_PLACE) */
    int along_rows;  /* tiles along C's rows (PACKED_ALONG_ROWS) */
} gemm_problem;

/* One mr x nr tile (mr, nr at most the instruction set's MR, NR) of C at c; next_b as for
 * the microkernel (gemm.h). The microkernel computes the first mr rows of a tile itself; a
 * tile of fewer than NR columns goes to the narrow microkernel where the instruction set has
 * one, else through an MR x NR buffer holding its valid part of C. Either way every element
 * sees the same operations. */
static void gemm_tile(const gemm_problem *problem, int64_t kc, const float *ap, const float *bp,
                      int64_t ldbp, float *c, int64_t ldc, int64_t mr, int64_t nr, float alpha,
                      float beta, const float *next_b) {
    const ck_gemm_isa *isa = problem->isa;
    const int64_t prefetch_b = problem->t->kernel_prefetch_b_rows;
    if (nr == isa->nr) {
        isa->kernel(kc, (int)mr, ap, bp, ldbp, c, ldc, alpha, beta, prefetch_b, next_b);
        return;
    }
    if (isa->narrow_kernel != NULL) {
        isa->narrow_kernel(kc, (int)mr, (int)nr, ap, bp, ldbp, c, ldc, alpha, beta);
        return;
    }
    _Alignas(64) float buf[CK_GEMM_MAX_MR * CK_GEMM_MAX_NR]; /* mr x isa->nr, ld nr */
    const int64_t ldbuf = isa->nr;
    if (beta != 0.0f) {
        /* The kernel reads whole rows: zeros past the valid columns. */
        memset(buf, 0, sizeof(float) * (size_t)(mr * isa->nr));
        for (int64_t i = 0; i < mr; i++)
            memcpy(buf + i * ldbuf, c + i * ldc, (size_t)nr * sizeof(float));
    }
    isa->kernel(kc, (int)mr, ap, bp, ldbp, buf, ldbuf, alpha, beta, prefetch_b, next_b);
    for (int64_t i = 0; i < mr; i++)
        memcpy(c + i * ldc, buf + i * ldbuf, (size_t)nr * sizeof(float));
}

/* PACKED_ALONG_ROWS: the tiles of rows [ic, ic + mc) and columns jc + [n0, n1) of C against
 * the shared B~ of this k block (kc deep, beta as for it), each A~ sliver against all the
 * thread's B~ slivers: C is written a row panel at a time, and in the last k block each
 * panel's epilogue runs while it is in cache. */
static void tiles_along_rows(const gemm_problem *problem, const float *a_packed, int64_t kc,
                             int64_t ic, int64_t mc, int64_t jc, int64_t n0, int64_t n1,
                             float beta, int last_block) {
    const ck_gemm_operands *g = problem->g;
    const int mr = problem->isa->mr, nr = problem->isa->nr;
    for (int64_t ir = 0; ir < mc; ir += mr) {
        const float *ap = a_packed + (ir / mr) * mr * kc;
        const int64_t rows = ck_gemm_min64(mr, mc - ir);
        float *c = g->c + (ic + ir) * g->ldc + jc;
        for (int64_t jr = n0; jr < n1; jr += nr) {
            const int64_t cols = ck_gemm_min64(nr, n1 - jr);
            if (last_block) prefetch_mask_of_tile(g->epilogue, ic + ir, rows, jc + jr, cols);
            gemm_tile(problem, kc, ap, problem->b_packed + (jr / nr) * nr * kc, nr, c + jr,
                      g->ldc, rows, cols, g->alpha, beta, NULL);
        }
        if (g->epilogue != NULL && last_block && n1 > n0) {
            const ck_gemm_epilogue e = ck_gemm_epilogue_at(*g->epilogue, ic + ir, jc + n0);
            problem->isa->epilogue(rows, n1 - n0, c + n0, g->ldc, &e);
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
static void gemm_thread(const gemm_problem *problem, int tid, int threads) {
    const ck_gemm_table *t = problem->t;
    const ck_gemm_operands *g = problem->g;
    const ck_gemm_isa *isa = problem->isa;
    const int mr = isa->mr, nr = isa->nr;

    /* This thread's rectangle: rows [m0, m1) of C, and within every jc block the column
     * part tj of tn (split per block, so that every jc block keeps all threads busy). The
     * rows are split evenly, not in whole tiles: the microkernel computes a partial tile's
     * rows at their own cost, and even parts balance the threads better. */
    const ck_gemm_packed_layout layout =
        ck_gemm_packed_layout_for(t, mr, nr, threads, g->m, g->n, g->k);
    const int tm = layout.tm, tn = layout.tn;
    const int ti = tid / tn, tj = tid % tn;
    int64_t m0, m1;
    ck_split_range(g->m, 1, ti, tm, &m0, &m1);

    /* The rows of one A~ block: all of the thread's rows when it takes own slivers
     * (ck_gemm_own_slivers_fit: they fit in one block); else its rows cut into equal blocks
     * of at most mc (ck_gemm_equal_block): no block is a short remainder, whose few tiles
     * per B~ sliver would bring in little of the next one. A~: that many rows by kc. */
    const int own_slivers = layout.own_slivers;
    const int64_t mc_block =
        own_slivers || m1 == m0 ? m1 - m0 : ck_gemm_equal_block(m1 - m0, t->mc, mr);
    float *a_packed = NULL;
    if (m1 > m0) {
        const int64_t rows = (ck_gemm_min64(mc_block, m1 - m0) + mr - 1) / mr * mr;
        a_packed = ck_scratch_get(&a_scratch, (size_t)rows * (size_t)ck_gemm_min64(t->kc, g->k));
    }

    /* With one row part and at most one mc block of rows (a small batch), each B~ sliver is
     * read by a few tiles of one thread only. When B~ would also be larger than L2 (larger
     * than the A~ block, which is sized to fit it), every thread takes the slivers of its own
     * columns, one at a time, right before its tiles read them (layout.own_slivers): no
     * shared B~ going through L3, no barriers. On PACKED_OWN_SLIVERS_IN_PLACE a whole sliver of
     * B as stored is not even packed: the microkernel reads its rows in place, ldb apart, and
     * the loads overlap its arithmetic instead of preceding it. The same tiles see the same
     * values: the bits do not change. */
    float *b_sliver = NULL;
    if (own_slivers)
        b_sliver = ck_scratch_get(&sliver_scratch, (size_t)nr * (size_t)ck_gemm_min64(t->kc, g->k));
    const int shared = threads > 1 && !own_slivers; /* B~ shared: barriers */

    /* Columns in equal blocks of at most nc: no short remainder block, for which all of A
     * would be packed again. */
    const int64_t nc_block = ck_gemm_equal_block(g->n, t->nc, nr);
    for (int64_t jc = 0; jc < g->n; jc += nc_block) {
        const int64_t nc = ck_gemm_min64(nc_block, g->n - jc);
        const int64_t slivers = (nc + nr - 1) / nr;
        int64_t n0, n1; /* columns [n0, n1) of this jc block */
        ck_split_range(nc, nr, tj, tn, &n0, &n1);

        for (int64_t pc = 0; pc < g->k; pc += t->kc) {
            const int64_t kc = ck_gemm_min64(t->kc, g->k - pc);
            const float beta = pc == 0 ? g->beta : 1.0f;

            /* Shared B~: every thread packs its share of the slivers, then waits for the rest. */
            if (!own_slivers) {
                int64_t s0, s1;
                ck_split_range(slivers, 1, tid, threads, &s0, &s1);
                pack_b(g->trans_b, g->b, g->ldb, pc, jc, nc, kc, nr, s0, s1, t->prefetch_rows,
                       problem->b_packed);
                if (shared) team_barrier();
            }

            const int last_block = pc + kc == g->k;
            for (int64_t ic = m0; ic < m1; ic += mc_block) {
                const int64_t mc = ck_gemm_min64(mc_block, m1 - ic);
                pack_a(g->trans_a, g->a, g->lda, ic, pc, mc, kc, mr, t->prefetch_rows, a_packed);
                if (problem->along_rows && !own_slivers) {
                    /* (A team smaller than planned may take own slivers: then there is no
                     * shared B~, and the tiles go down the columns below.) */
                    tiles_along_rows(problem, a_packed, kc, ic, mc, jc, n0, n1, beta, last_block);
                    continue;
                }
                for (int64_t jr = n0; jr < n1; jr += nr) {
                    /* The B sliver of columns jc + jr .., its rows ldbp apart. */
                    const float *bp = b_sliver;
                    int64_t ldbp = nr;
                    if (!own_slivers) {
                        bp = problem->b_packed + (jr / nr) * nr * kc;
                    } else if (problem->b_in_place && nc - jr >= nr) {
                        bp = g->b + pc * g->ldb + jc + jr; /* B as stored */
                        ldbp = g->ldb;
                    } else {
                        pack_b(g->trans_b, g->b, g->ldb, pc, jc + jr, nc - jr, kc, nr, 0, 1,
                               t->prefetch_rows, b_sliver);
                    }
                    const int64_t cols = ck_gemm_min64(nr, n1 - jr); /* of this column of tiles */
                    /* Own slivers: the next one, if packed, is asked for a piece per tile. */
                    const int64_t next = jr + nr, tiles = (mc + mr - 1) / mr;
                    const int prefetch_next = own_slivers && next < n1 &&
                                              !(problem->b_in_place && nc - next >= nr);
                    /* Shared B~: each tile asks L2 for its piece of the next sliver, 2 * kc
                     * floats (gemm.h), so that the column of tiles brings it all in. */
                    const float *next_sliver = !own_slivers && next < n1
                                                   ? problem->b_packed + (next / nr) * nr * kc
                                                   : NULL;
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        if (prefetch_next)
                            prefetch_sliver_piece(g->trans_b, g->b, g->ldb, pc, kc, jc + next,
                                                  ck_gemm_min64(nr, n1 - next), ir / mr, tiles,
                                                  t->next_sliver_max_lines);
                        const float *ap = a_packed + (ir / mr) * mr * kc;
                        float *c = g->c + (ic + ir) * g->ldc + jc + jr;
                        const int64_t rows = ck_gemm_min64(mr, mc - ir);
                        if (last_block)
                            prefetch_mask_of_tile(g->epilogue, ic + ir, rows, jc + jr, cols);
                        const int64_t piece = (ir / mr) * 2 * kc;
                        const float *next_b =
                            next_sliver != NULL && piece < nr * kc ? next_sliver + piece : NULL;
                        gemm_tile(problem, kc, ap, bp, ldbp, c, g->ldc, rows, cols, g->alpha, beta,
                                  next_b);
                    }
                    if (g->epilogue != NULL && last_block) {
                        /* This column of tiles is finished: its epilogue while it is in
                         * cache (once per column of tiles rather than per tile: fewer,
                         * longer passes). */
                        const ck_gemm_epilogue e = ck_gemm_epilogue_at(*g->epilogue, ic, jc + jr);
                        isa->epilogue(mc, cols, g->c + ic * g->ldc + jc + jr, g->ldc, &e);
                    }
                }
            }

            /* Everyone is done reading B~ before it is repacked. */
            if (shared) team_barrier();
        }
    }
}

/* The product on a team of `threads` threads (> 1). Out of line, like team_barrier, so
 * that the serial path makes no OpenMP runtime call at all. */
__attribute__((noinline)) static void gemm_parallel(const gemm_problem *problem, int threads) {
#pragma omp parallel num_threads(threads)
    {
        /* The runtime may give fewer threads than asked: use the team's real size. */
        gemm_thread(problem, omp_get_thread_num(), omp_get_num_threads());
    }
}

void ck_gemm_packed(const ck_gemm_table *t, const ck_gemm_operands *g, ck_gemm_plan plan) {
    /* PACKED takes the table's packed_isa where it has one; the tiles' shape does not change
     * the operations on any element (gemm.h), so neither the bits. */
    const ck_gemm_isa *isa =
        plan.route == CK_GEMM_ROUTE_PACKED && t->packed_isa != NULL ? t->packed_isa : t->isa;
    /* B~ belongs to the calling thread: allocated here, before any parallel region. */
    const int nr = isa->nr;
    const int64_t nc_max = ck_gemm_min64(t->nc, (g->n + nr - 1) / nr * nr);
    const gemm_problem problem = {
        .t = t, .isa = isa, .g = g,
        .b_packed = ck_scratch_get(&b_scratch, (size_t)nc_max * (size_t)ck_gemm_min64(t->kc, g->k)),
        .b_in_place = plan.route == CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE,
        .along_rows = plan.route == CK_GEMM_ROUTE_PACKED_ALONG_ROWS};
    if (plan.threads > 1)
        gemm_parallel(&problem, plan.threads);
    else
        gemm_thread(&problem, 0, 1);
}
