/* The GEMM's packed routes (gemm_plan.h), PACKED(_ALONG_ROWS) and PACKED_OWN_SLIVERS(_IN_PLACE):
 * C = alpha * op(A) * op(B) + beta * C (row-major), BLIS-style, then the epilogue (NULL:
 * none; gemm_direct.h).
 * Block sizes (MC, KC, NC) come from the table, the tile (MR x NR) from its instruction set:
 * for PACKED the table's packed_isa where it has one (the two-FMA table's 8 x 48 kernel, whose
 * layout may have own slivers: the plan then calls it PACKED_OWN_SLIVERS). The plan gives the
 * layout: how C is split between the threads, and whether each packs its own B~ slivers.
 *
 *   for jc over n by NC:                 columns of C / op(B) (equal blocks of at most NC)
 *     for pc over k by KC:               depth; the first block uses the caller's beta,
 *                                        later ones beta = 1 (add to what is in C)
 *       pack B~ = op(B)[pc.., jc..]      kc x nc, NR-column slivers, shared by the threads,
 *                                        packed cooperatively, then a barrier
 *       each thread, over its own rectangle of C (equal row parts, columns aligned to NR),
 *       unit by unit (below):
 *         for ic over its rows by MC (equal blocks of at most MC; all its rows at once with
 *         own slivers, see gemm_thread):
 *           pack A~ = op(A)[ic.., pc..]  mc x kc, MR-row slivers, private to the thread
 *           for jr over its columns of this jc block by NR:     one unit: a column of tiles
 *             for ir over the mc rows by MR:
 *               microkernel: MR x NR tile of C += A~ sliver * B~ sliver (with B~ shared,
 *               each tile also gives the kernel its piece of the next B~ sliver to ask L2
 *               for: the column of tiles brings in the next column's sliver)
 *             in the last k block: the epilogue on these mc x NR of C, still in cache
 *           (PACKED_ALONG_ROWS, and PACKED with a parameter update, update: a unit is a row
 *           panel of MR rows, its A~ sliver packed right before it, against all the thread's
 *           B~ slivers; then the panel's epilogue, or in one k block the update from a buffer
 *           of the thread's: C is not stored. Columns of tiles would update rows NR floats
 *           long, ldc apart, all in the same cache sets when ldc is a power of two.)
 *       then the units left in the other threads' queues, from their backs
 *       barrier (B~ is repacked next; after the last k block, the parallel region's end)
 *
 * A thread's units of a k block are in a queue (work_queue): it takes them in order from the
 * front, and a thread that has finished its own takes the others' from the back, packing
 * their A~ block into its own buffer where it must. The threads' shares are equal, but a
 * core of a shared host can run slower than the other for a while; without the queues the
 * other would then wait at the barrier for all of its remaining tiles.
 *
 * Every element of C is computed by the same sequence of operations whatever the thread
 * count, whichever thread takes it, and whatever tile it falls in: the k blocking is fixed,
 * the microkernel sums each element in one chain, and partial tiles run the same microkernel
 * on their first rows, and its narrow form when they have fewer columns. So results are
 * bitwise independent of the thread split.
 *
 * The packing itself is in gemm_pack.c. Its buffers are cached per thread and only grow
 * (scratch.h). */
#include "gemm_pack.h"
#include "gemm_plan.h"
#include "scratch.h"
#include "work_queue.h"

/* ---------------------------------------------------------------------------------------
 * Packing buffers
 * ------------------------------------------------------------------------------------- */

/* A~ of each thread, and B~ of the thread that calls ck_sgemm (shared with its team). */
static _Thread_local ck_scratch a_scratch;
static _Thread_local ck_scratch b_scratch;
/* The B slivers each thread packs for itself, with own slivers (gemm_thread): one sliver, or
 * a group of the table's own_slivers_group of them. */
static _Thread_local ck_scratch sliver_scratch;
/* A row panel of C of each thread, when it updates parameters (ck_gemm_operands.update). */
static _Thread_local ck_scratch update_scratch;
/* The work queues of the team of the thread that calls ck_sgemm (gemm_parallel). */
static _Thread_local ck_scratch queue_scratch;

/* ---------------------------------------------------------------------------------------
 * Prefetching
 * ------------------------------------------------------------------------------------- */

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

/* Asks for the rows of the ReLU's mask that the epilogue of a rows x cols tile of C at
 * (row0, col0) reads (e NULL, or without a mask read along rows: nothing). They are mrs apart,
 * each on another page for long rows, and would otherwise wait for memory after the tile. */
static inline void prefetch_mask_of_tile(const ck_gemm_epilogue *e, int64_t row0, int64_t rows,
                                         int64_t col0, int64_t cols) {
    if (e == NULL || e->mask == NULL || e->mcs != 1) return;
    const float *mask = ck_gemm_epilogue_at(*e, row0, col0).mask;
    for (int64_t i = 0; i < rows; i++) ck_gemm_prefetch_floats(mask + i * e->mrs, cols);
}

/* ---------------------------------------------------------------------------------------
 * The blocked product
 * ------------------------------------------------------------------------------------- */

/* One k block of one jc block: columns jc + [0, nc) of C, depth pc + [0, kc); beta is the
 * caller's in the first k block and 1 in later ones; the last one runs the epilogue. */
typedef struct {
    int64_t jc, nc, pc, kc;
    float beta;
    int last;
} k_block;

typedef struct {
    const ck_gemm_table *t;
    const ck_gemm_isa *isa; /* whose microkernel computes the tiles (see ck_gemm_packed) */
    const ck_gemm_operands *g;
    float *b_packed;    /* B~, shared: kc_max x nc_max floats (NULL: not needed) */
    work_queue *queues; /* one per thread of the team, empty at first */
    int b_in_place;     /* own slivers of B as stored read in place (..._OWN_SLIVERS_IN_PLACE) */
    int along_rows;     /* tiles along C's rows (PACKED_ALONG_ROWS) */
    ck_gemm_plan plan;  /* its layout is for plan.threads threads */
} gemm_problem;

/* What one thread owns in a jc block (gemm_thread): rows [m0, m1) of C, cut into A~ blocks of
 * mc_block rows, and columns [n0, n1) of the jc block (its column part, in whole slivers). Its
 * units of a k block are, block of rows after block of rows, the block's columns of tiles
 * (per_block of them); or, going along rows, the row panels of mr rows, each a block of its
 * own (with its A~ sliver packed right before it). */
typedef struct {
    int64_t m0, m1, mc_block, n0, n1;
    int64_t per_block, units;
    int own_slivers; /* the layout's: each thread packs the B slivers it reads */
    int along_rows;  /* units are row panels */
} thread_share;

/* Thread tid's share of a jc block of nc columns. */
static thread_share share_of(const gemm_problem *problem, ck_gemm_packed_layout layout, int tid,
                             int64_t nc) {
    const int mr = problem->isa->mr, nr = problem->isa->nr;
    thread_share s = {.own_slivers = layout.own_slivers};
    /* (A team smaller than planned may take own slivers: then there is no shared B~ to go
     * along, and the units are columns of tiles.) */
    s.along_rows = problem->along_rows && !s.own_slivers;
    ck_split_range(problem->g->m, 1, tid / layout.tn, layout.tm, &s.m0, &s.m1);
    ck_split_range(nc, nr, tid % layout.tn, layout.tn, &s.n0, &s.n1);
    if (s.m1 == s.m0 || s.n1 == s.n0) return s; /* no units */
    if (s.along_rows) {
        s.mc_block = mr;
        s.per_block = 1;
    } else {
        /* All the rows at once with own slivers (ck_gemm_packed_layout_for takes them only
         * where the rows fit one block); else equal blocks of at most mc
         * (ck_gemm_equal_block): no block is a short remainder, whose few tiles per B~
         * sliver would bring in little of the next one. */
        s.mc_block = s.own_slivers ? s.m1 - s.m0
                                   : ck_gemm_equal_block(s.m1 - s.m0, problem->t->mc, mr);
        s.per_block = (s.n1 - s.n0 + nr - 1) / nr;
    }
    s.units = (s.m1 - s.m0 + s.mc_block - 1) / s.mc_block * s.per_block;
    return s;
}

/* One mr x nr tile (mr, nr at most the instruction set's MR, NR) of C at c; next_b as for
 * the microkernel (gemm.h). The microkernel computes the first mr rows of a tile itself, and
 * its narrow form the first nr columns of a tile of fewer than NR: every element sees the
 * same operations either way. */
static inline __attribute__((always_inline)) void
gemm_tile(const gemm_problem *problem, int64_t kc, const float *ap, const float *bp, int64_t ldbp,
          float *c, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,
          const float *next_b) {
    const ck_gemm_isa *isa = problem->isa;
    if (nr == isa->nr)
        isa->kernel(kc, (int)mr, ap, bp, ldbp, c, ldc, alpha, beta,
                    problem->t->kernel_prefetch_b_rows, next_b);
    else
        isa->narrow_kernel(kc, (int)mr, (int)nr, ap, bp, ldbp, c, ldc, alpha, beta);
}

/* A thread's packing buffers: A~, with the first row of the block it holds (a_rows, -1:
 * none), and with own slivers b_slivers, one sliver of B or a group of them (the table's
 * own_slivers_group), with the first column of the group it holds (b_first, -1: none). With
 * a parameter update, panel: a row panel of C, its rows its width apart. */
typedef struct {
    float *a_packed, *b_slivers, *panel;
    int64_t a_rows, b_first;
} thread_buffers;

/* With own slivers packed in groups, the sliver of the thread's columns of share s that starts
 * at column jr: the group of own_slivers_group slivers holding it is packed into
 * buffers->b_slivers unless it is the one held. Groups are counted from the share's first
 * column, so a thread taking another's last units packs the groups the owner would. */
static const float *own_sliver_of_group(const gemm_problem *problem, const k_block *kb,
                                        const thread_share *s, int64_t jr,
                                        thread_buffers *buffers) {
    const ck_gemm_operands *g = problem->g;
    const int nr = problem->isa->nr;
    const int64_t width = problem->t->own_slivers_group * nr;
    const int64_t first = s->n0 + (jr - s->n0) / width * width;
    if (buffers->b_first != first) {
        const int64_t cols = ck_gemm_min64(width, s->n1 - first);
        ck_gemm_pack_b(problem->t, g->trans_b, g->b, g->ldb, kb->pc, kb->jc + first, cols,
                       kb->kc, nr, 0, (cols + nr - 1) / nr, problem->t->pack_b_row_block,
                       buffers->b_slivers);
        buffers->b_first = first;
    }
    return buffers->b_slivers + (jr - first) / nr * nr * kb->kc;
}

/* The column of tiles of rows [ic, ic + mc) and columns jc + [jr, jr + nr) of C (fewer at the
 * end s->n1 of the columns of share s), against A~ and the B sliver of its columns: in the
 * shared B~, or, with own slivers, packed into buffers->b_slivers here, alone or in its group
 * (B as stored, on a table with own_slivers_group), or read in place. In the
 * last k block its epilogue follows, while it is in cache (once per column of tiles rather
 * than per tile: fewer, longer passes). */
static void tile_column(const gemm_problem *problem, const k_block *kb, const float *a_packed,
                        int64_t ic, int64_t mc, int64_t jr, const thread_share *s,
                        thread_buffers *buffers) {
    const ck_gemm_table *t = problem->t;
    const ck_gemm_operands *g = problem->g;
    const int mr = problem->isa->mr, nr = problem->isa->nr;
    const int64_t jc = kb->jc, nc = kb->nc, pc = kb->pc, kc = kb->kc, n1 = s->n1;
    const int own_slivers = s->own_slivers;
    const int grouped =
        own_slivers && !problem->b_in_place && !g->trans_b && t->own_slivers_group > 1;

    /* The B sliver of columns jc + jr .., its rows ldbp apart. */
    const float *bp = buffers->b_slivers;
    int64_t ldbp = nr;
    if (!own_slivers) {
        bp = problem->b_packed + (jr / nr) * nr * kc;
    } else if (problem->b_in_place && nc - jr >= nr) {
        bp = g->b + pc * g->ldb + jc + jr; /* B as stored */
        ldbp = g->ldb;
    } else if (grouped) {
        bp = own_sliver_of_group(problem, kb, s, jr, buffers);
    } else {
        ck_gemm_pack_b(t, g->trans_b, g->b, g->ldb, pc, jc + jr, nc - jr, kc, nr, 0, 1, 0,
                       buffers->b_slivers);
    }
    const int64_t cols = ck_gemm_min64(nr, n1 - jr);
    /* Own slivers one at a time: the next one, if packed, is asked for a piece per tile. */
    const int64_t next = jr + nr, tiles = (mc + mr - 1) / mr;
    const int prefetch_next = own_slivers && !grouped && next < n1 &&
                              !(problem->b_in_place && nc - next >= nr);
    /* Shared B~: each tile asks L2 for its piece of the next sliver, 2 * kc floats (gemm.h),
     * so that the column of tiles brings it all in. */
    const float *next_sliver =
        !own_slivers && next < n1 ? problem->b_packed + (next / nr) * nr * kc : NULL;
    for (int64_t ir = 0; ir < mc; ir += mr) {
        if (prefetch_next)
            prefetch_sliver_piece(g->trans_b, g->b, g->ldb, pc, kc, jc + next,
                                  ck_gemm_min64(nr, n1 - next), ir / mr, tiles,
                                  t->next_sliver_max_lines);
        const float *ap = a_packed + (ir / mr) * mr * kc;
        float *c = g->c + (ic + ir) * g->ldc + jc + jr;
        const int64_t rows = ck_gemm_min64(mr, mc - ir);
        if (kb->last) prefetch_mask_of_tile(g->epilogue, ic + ir, rows, jc + jr, cols);
        const int64_t piece = (ir / mr) * 2 * kc;
        const float *next_b = next_sliver != NULL && piece < nr * kc ? next_sliver + piece : NULL;
        gemm_tile(problem, kc, ap, bp, ldbp, c, g->ldc, rows, cols, g->alpha, kb->beta, next_b);
    }
    if (g->epilogue != NULL && kb->last) {
        const ck_gemm_epilogue e = ck_gemm_epilogue_at(*g->epilogue, ic, jc + jr);
        problem->isa->epilogue(mc, cols, g->c + ic * g->ldc + jc + jr, g->ldc, &e);
    }
    /* A parameter update goes along rows unless this team's layout takes own slivers. */
    if (g->update != NULL && kb->last)
        g->update->block(g->update->args, ic, jc + jr, mc, cols, g->c + ic * g->ldc + jc + jr,
                         g->ldc);
}

/* PACKED_ALONG_ROWS: the row panel of rows ic + [0, rows), rows at most mr, and columns
 * jc + [n0, n1) of C, its A~ sliver against all the thread's B~ slivers of the jc block: C is
 * written a row panel at a time (with a parameter update, into buffers->panel), and in the
 * last k block the panel's epilogue or update runs while it is in cache. */
static void tile_row_panel(const gemm_problem *problem, const k_block *kb, const float *a_sliver,
                           int64_t ic, int64_t rows, int64_t n0, int64_t n1,
                           const thread_buffers *buffers) {
    const ck_gemm_operands *g = problem->g;
    const int nr = problem->isa->nr;
    const int64_t kc = kb->kc, jc = kb->jc;
    float *const c0 = g->update != NULL ? buffers->panel : g->c + ic * g->ldc + jc + n0;
    const int64_t ldc = g->update != NULL ? n1 - n0 : g->ldc;
    for (int64_t jr = n0; jr < n1; jr += nr) {
        const int64_t cols = ck_gemm_min64(nr, n1 - jr);
        if (kb->last) prefetch_mask_of_tile(g->epilogue, ic, rows, jc + jr, cols);
        gemm_tile(problem, kc, a_sliver, problem->b_packed + (jr / nr) * nr * kc, nr,
                  c0 + (jr - n0), ldc, rows, cols, g->alpha, kb->beta, NULL);
    }
    if (g->epilogue != NULL && kb->last) {
        const ck_gemm_epilogue e = ck_gemm_epilogue_at(*g->epilogue, ic, jc + n0);
        problem->isa->epilogue(rows, n1 - n0, c0, ldc, &e);
    }
    if (g->update != NULL && kb->last)
        g->update->block(g->update->args, ic, jc + n0, rows, n1 - n0, c0, ldc);
}

/* Computes unit `unit` of share s in k block kb (packing its block's A~ first unless it is
 * the one held). */
static void compute_unit(const gemm_problem *problem, const k_block *kb, const thread_share *s,
                         int64_t unit, thread_buffers *buffers) {
    const ck_gemm_operands *g = problem->g;
    const int64_t ic = s->m0 + unit / s->per_block * s->mc_block, u = unit % s->per_block;
    const int64_t mc = ck_gemm_min64(s->mc_block, s->m1 - ic);
    if (buffers->a_rows != ic) {
        ck_gemm_pack_a(problem->t, g->trans_a, g->a, g->lda, ic, kb->pc, mc, kb->kc,
                       problem->isa->mr, buffers->a_packed);
        buffers->a_rows = ic;
    }
    if (s->along_rows) {
        tile_row_panel(problem, kb, buffers->a_packed, ic, mc, s->n0, s->n1, buffers);
    } else {
        tile_column(problem, kb, buffers->a_packed, ic, mc, s->n0 + u * problem->isa->nr, s,
                    buffers);
    }
}

/* A thread that has finished its own units of k block kb takes the others' from the back of
 * their queues, the fullest queue first, until none is left. On a host where a core runs
 * slower for a while, its thread would otherwise finish last while the others wait at the
 * barrier. */
static void take_others_units(const gemm_problem *problem, const k_block *kb,
                              ck_gemm_packed_layout layout, int tid, int threads,
                              thread_buffers *buffers) {
    for (;;) {
        int owner = -1;
        int64_t most = 0;
        for (int other = 0; other < threads; other++) {
            const int64_t left = other == tid ? 0 : work_queue_left(&problem->queues[other]);
            if (left > most) {
                most = left;
                owner = other;
            }
        }
        if (owner < 0) return;
        const int64_t unit = work_queue_take(&problem->queues[owner], 1);
        if (unit < 0) continue;
        const thread_share theirs = share_of(problem, layout, owner, kb->nc);
        compute_unit(problem, kb, &theirs, unit, buffers);
    }
}

/* A barrier of the enclosing team, kept out of line so that the serial case makes no call
 * into the OpenMP runtime at all. */
__attribute__((noinline)) static void team_barrier(void) {
#pragma omp barrier
}

/* The whole product as seen by thread `tid` of `threads` (all threads call it with the same
 * problem). With threads > 1 it must run inside a parallel region of that many threads, and
 * problem->queues must have `threads` queues. */
static void gemm_thread(const gemm_problem *problem, int tid, int threads) {
    const ck_gemm_table *t = problem->t;
    const ck_gemm_operands *g = problem->g;
    const int mr = problem->isa->mr, nr = problem->isa->nr;

    /* This thread's rectangle (share_of): a row part of C, and within every jc block a column
     * part (split per block, so that every jc block keeps all threads busy), as the plan laid
     * them out; a team smaller than planned (the runtime may give fewer threads than asked) is
     * laid out by the plan's rule for its size. The rows are split evenly, not in whole tiles:
     * the microkernel computes a partial tile's rows at their own cost, and even parts balance
     * the threads better. */
    const ck_gemm_packed_layout layout =
        threads == problem->plan.threads ? problem->plan.layout
                                         : ck_gemm_packed_layout_for(t, mr, nr, threads, g);

    /* With own slivers (layout.own_slivers, from ck_gemm_packed_layout_for) there is one row
     * part, one A~ block (at most mc rows, or up to the table's own_slivers_max_a floats of
     * A~), so each B~ sliver would be read by the tiles of one thread only. The
     * layout takes them where B~ would be larger than the A~ block (mc x kc, sized for L2;
     * on a table with own_slivers_by_rows, than the product's own A~), or for a product of one
     * k block and one A~ block on a table with own_slivers_one_block (on several threads only
     * with C's rows on cache lines); with one_thread_own_slivers_in_place_only, these last two
     * rules apply on one thread only where B is read in place. Every thread then packs the
     * slivers of its own columns right before its tiles read them: one at a time, the next
     * asked for while the current one's tiles compute, or, for B as stored on a table with
     * own_slivers_group, in groups of that many (own_sliver_of_group). No shared B~ goes
     * through L3 or the other core's cache, and there is no barrier but between k blocks. On
     * PACKED_OWN_SLIVERS_IN_PLACE a whole sliver of B as stored is not even packed: the
     * microkernel reads its rows in place, ldb apart, and the loads overlap its arithmetic
     * instead of preceding it. The same tiles see the same values: the bits do not change.
     * Else B~ is shared, with barriers around each k block.
     * On a team, the threads' units of each k block are in queues, so that one that finishes
     * first takes over the others' last units. Whichever thread computes a unit computes it
     * the same way: the bits do not change either. */
    const int shared = threads > 1 && !layout.own_slivers;

    /* A~: one block of rows by kc, sized for the largest of any thread's, as another thread's
     * may be packed here: a whole row part with own slivers (then the only one, of all m
     * rows), else at most mc rows of one. With own slivers, room for a group of them. */
    thread_buffers buffers = {NULL, NULL, NULL, -1, -1};
    const int64_t kc_max = ck_gemm_min64(t->kc, g->k);
    const int64_t part = (g->m + layout.tm - 1) / layout.tm;
    const int64_t rows = layout.own_slivers ? part : ck_gemm_min64(t->mc, part);
    buffers.a_packed =
        ck_scratch_get(&a_scratch, (size_t)((rows + mr - 1) / mr * mr) * (size_t)kc_max);
    const int64_t group = t->own_slivers_group > 1 ? t->own_slivers_group : 1;
    if (layout.own_slivers)
        buffers.b_slivers =
            ck_scratch_get(&sliver_scratch, (size_t)(group * nr) * (size_t)kc_max);

    /* Columns in equal blocks of at most nc: no short remainder block, for which all of A
     * would be packed again. */
    const int64_t nc_block = ck_gemm_equal_block(g->n, t->nc, nr);
    if (g->update != NULL) buffers.panel = ck_scratch_get(&update_scratch, (size_t)(mr * nc_block));
    for (int64_t jc = 0; jc < g->n; jc += nc_block) {
        const int64_t nc = ck_gemm_min64(nc_block, g->n - jc);
        const thread_share mine = share_of(problem, layout, tid, nc);
        /* (A count past a queue's 32 bits is not shared.) */
        const int queued = threads > 1 && mine.units <= WORK_QUEUE_MAX_UNITS;
        for (int64_t pc = 0; pc < g->k; pc += t->kc) {
            const int64_t kc = ck_gemm_min64(t->kc, g->k - pc);
            const k_block kb = {jc, nc, pc, kc, pc == 0 ? g->beta : 1.0f, pc + kc == g->k};
            buffers.a_rows = buffers.b_first = -1; /* A~ and B slivers are of the last k block */

            /* Shared B~: every thread packs its share of the slivers, then waits for the rest. */
            if (!layout.own_slivers) {
                int64_t s0, s1;
                ck_split_range((nc + nr - 1) / nr, 1, tid, threads, &s0, &s1);
                ck_gemm_pack_b(t, g->trans_b, g->b, g->ldb, pc, jc, nc, kc, nr, s0, s1, 0,
                               problem->b_packed);
            }
            if (threads > 1) work_queue_fill(&problem->queues[tid], queued ? mine.units : 0);
            if (shared) team_barrier();

            for (int64_t next = 0;; next++) {
                const int64_t unit = queued ? work_queue_take(&problem->queues[tid], 0)
                                            : next < mine.units ? next : -1;
                if (unit < 0) break;
                compute_unit(problem, &kb, &mine, unit, &buffers);
            }
            if (threads > 1) {
                take_others_units(problem, &kb, layout, tid, threads, &buffers);
                /* Everyone is done with this k block before the next one's units (and B~) are
                 * handed out; after the last, the end of the parallel region waits. */
                if (pc + kc < g->k || jc + nc < g->n) team_barrier();
            }
        }
    }
}

/* The product on a team of `threads` threads (> 1). Out of line, like team_barrier, so
 * that the serial path makes no OpenMP runtime call at all. */
__attribute__((noinline)) static void gemm_parallel(const gemm_problem *problem, int threads) {
    /* One queue a thread, in the calling thread's scratch rather than on its stack: the thread
     * count is the user's setting, however large. */
    work_queue *queues = (work_queue *)(void *)ck_scratch_get(
        &queue_scratch, (size_t)threads * (sizeof(work_queue) / sizeof(float)));
    for (int i = 0; i < threads; i++) work_queue_fill(&queues[i], 0);
    gemm_problem with_queues = *problem;
    with_queues.queues = queues;
#pragma omp parallel num_threads(threads)
    {
        /* The runtime may give fewer threads than asked: use the team's real size. */
        gemm_thread(&with_queues, omp_get_thread_num(), omp_get_num_threads());
    }
}

void ck_gemm_packed(const ck_gemm_table *t, const ck_gemm_operands *g, ck_gemm_plan plan) {
    /* The plan's tiles (the table's packed_isa's for PACKED where it has one); the tiles' shape
     * does not change the operations on any element (gemm.h), so neither the bits. */
    const ck_gemm_isa *isa = plan.packed_tile ? t->packed_isa : t->isa;
    /* B~ belongs to the calling thread: allocated here, before any parallel region. One
     * thread runs the plan's layout, and with own slivers needs none; a team may be given
     * fewer threads than planned, and their layout may share one. */
    const int nr = isa->nr;
    const int64_t nc_max = ck_gemm_min64(t->nc, (g->n + nr - 1) / nr * nr);
    const int shares_b = plan.threads > 1 || !plan.layout.own_slivers;
    const gemm_problem problem = {
        .t = t, .isa = isa, .g = g,
        .b_packed = shares_b ? ck_scratch_get(&b_scratch, (size_t)nc_max *
                                                              (size_t)ck_gemm_min64(t->kc, g->k))
                             : NULL,
        .b_in_place = plan.route == CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE,
        .along_rows = plan.route == CK_GEMM_ROUTE_PACKED_ALONG_ROWS || g->update != NULL,
        .plan = plan};
    if (plan.threads > 1)
        gemm_parallel(&problem, plan.threads);
    else
        gemm_thread(&problem, 0, 1);
}
