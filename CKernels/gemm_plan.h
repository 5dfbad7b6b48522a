/* Internal: the GEMM's plan. Which code computes a product is decided here, in one function
 * (ck_gemm_plan_for) of the architecture's table, the shape, the transposes, alpha, beta and
 * the epilogue; the routes (gemm_scale.c, gemm_dot.h, gemm_broadcast.h, gemm_packed.c) know
 * nothing of thresholds. The tables themselves, and the choice of one for this CPU, are in
 * gemm_plan.c.
 *
 * The routes (ck_gemm_route, ckernels_gemm.h), in the enum's order. ck_gemm_plan_for tests
 * them in another, the first that applies taking the product: NOTHING, SCALE, DOT; then, up to
 * direct_max_work, BROADCAST_TRANSPOSED, ROW_PANELS, else BROADCAST; past it,
 * BROADCAST_TRANSPOSED of few columns, BROADCAST up to broadcast_max_work, and last the packed
 * routes, whose layout (ck_gemm_packed_layout_for) picks PACKED_OWN_SLIVERS(_IN_PLACE) where it
 * has own slivers, else PACKED_ALONG_ROWS or PACKED. On a table with a packed_isa, PACKED is
 * laid out again for that tile, and is PACKED_OWN_SLIVERS on it where that layout has own
 * slivers. The plan carries the layout, so the packed routes follow it rather than decide.
 *   NOTHING               m == 0 or n == 0
 *   SCALE                 alpha == 0 or k == 0: C = beta * C, then the epilogue
 *   DOT                   the dot form, vectors along k: at least dot_min_k terms per sum,
 *                         A as stored, and at most dot_max_n columns (the broadcast form
 *                         and the microkernel would waste most vector lanes) or B
 *                         transposed and at most dot_max_m rows (a small batch's dX = dY·Wᵀ:
 *                         both operands read in place along k, no transposed copy of B)
 *   ROW_PANELS            up to direct_max_work multiply-adds and at most row_panel_max_k
 *                         terms per sum, alpha 1, beta 0, C's rows along D's, and an
 *                         epilogue the panels are compiled for (ck_gemm_row_panels_fit)
 *   BROADCAST             up to direct_max_work multiply-adds: the broadcast form, C's rows
 *                         along D's rows; and up to broadcast_max_work with A and B as
 *                         stored, C's columns (or, with too few, rows) split between the
 *                         threads
 *   BROADCAST_TRANSPOSED  the broadcast form on D = Cᵀ, vectors along C's columns: up to
 *                         direct_max_work multiply-adds with A transposed and B transposed
 *                         or C taller than wide; or any size with A transposed, C taller than
 *                         wide and at most transposed_max_n columns (dW = Xᵀ·dY of a layer
 *                         with few outputs), on several threads when the work pays
 *   PACKED                the blocked product, B~ packed by all threads together (tiles of
 *                         the table's packed_isa where it has one, and then PACKED_OWN_SLIVERS
 *                         on those tiles where their layout has own slivers)
 *   PACKED_OWN_SLIVERS    the blocked product with one row part, its rows one A~ block (at
 *                         most mc rows, or own_slivers_max_a floats; ck_gemm_own_slivers_fit),
 *                         and a B~ that would be larger than the A~ block (sized for L2;
 *                         on a table with own_slivers_by_rows, than the product's A~), or,
 *                         on a table with own_slivers_one_block, a product of one k block
 *                         and one A~ block (on several threads, with C's rows starting on
 *                         cache lines); these two rules on one thread only in place on a
 *                         table with one_thread_own_slivers_in_place_only: each thread packs
 *                         the slivers of its own columns as it needs them (the next one
 *                         asked for while the tiles of the current one compute), no shared
 *                         B~, no barriers
 *   PACKED_OWN_SLIVERS_IN_PLACE  the same, with B as stored, at most mc rows (more tiles
 *                         read each sliver: its rows, ldb apart, fall into few cache sets and
 *                         do not stay in cache; on a table with in_place_l2_sets, fewer as
 *                         they cycle through fewer of L2's sets) and op(B) of at most
 *                         own_slivers_in_place_max_b floats (ck_gemm_b_in_place): the
 *                         microkernel reads each whole
 *                         sliver of B in place, rows ldb apart (its loads overlap the
 *                         arithmetic; a B that does not stay in cache is better packed, the
 *                         rows prefetch_rows ahead asked for); a last partial sliver is packed
 *   PACKED_ALONG_ROWS     PACKED where a thread's part of a B~ block (kc by its columns) is
 *                         at most along_rows_max_b floats: its tiles are taken along C's rows
 *                         (each A~ sliver against all its B~ slivers, which stay in L2)
 *                         rather than down C's columns (each B~ sliver against all the A~
 *                         slivers): C is written a row panel at a time, along its rows, not
 *                         a strip of NR columns down rows that are each on another page.
 *                         This pays where the blocks are shallow (a small batch's dW = Xᵀ·dY)
 *                         and writing C is a large part of the work
 * Every route computes each element of C with a sequence of operations fixed by the table
 * and the shape, and the routes a shape can take with different thread counts compute the
 * same one, so the thread count never changes a bit. */
#ifndef CK_GEMM_PLAN_H
#define CK_GEMM_PLAN_H

#include "gemm.h"
#include "param_update.h"
#include "threading.h"

#include <stdatomic.h>
#include <stdint.h>

/* The numbers of one architecture: its instruction set, block sizes and the thresholds of the
 * plan. One table per kind of CPU (gemm_plan.c); Benchmarks/README.md says where each was
 * measured.
 *   packed_isa  the instruction set whose microkernel computes PACKED's tiles, where it is
 *       not isa (its direct kernels are isa's): the two-FMA table's 8 x 48 kernel, which
 *       asks for the next B~ sliver as it goes
 *   mc  rows of op(A) packed at once (the A~ block, mc x kc, meant to stay in L2); a
 *       multiple of the instruction sets' mr
 *   kc  depth of one packed block: each k block reloads and rewrites the tiles of C, so
 *       deeper blocks pay as long as a B~ sliver (kc x nr) stays in L1/L2
 *   nc  columns of op(B) packed at once (the B~ block, kc x nc, shared by the threads, meant
 *       to stay in L3); a multiple of the instruction sets' nr
 *   min_work_per_thread  multiply-adds a thread must get, or the product runs on fewer
 *       threads (1: no parallel region)
 *   direct_max_work      products of at most this many multiply-adds are not packed
 *   broadcast_max_work   products of at most this many multiply-adds with A and B as stored
 *       are not packed either: BROADCAST reads B in place and splits C between the threads (at
 *       most direct_max_work: no effect)
 *   dot_min_k, dot_max_n, dot_max_m, transposed_max_n, row_panel_max_k: see the routes above
 *       (row_panel_max_k 0: no row panels; at most CK_GEMM_ROW_PANEL_MAX_K)
 *   dot_column_block     DOT split by columns (D wider than tall) takes each thread's columns
 *       this many at a time: that many rows of Yt (by k) are read from memory once and from
 *       cache by every row block of X (at least 1)
 *   transposed_min_work_per_thread  min_work_per_thread for BROADCAST_TRANSPOSED past
 *       direct_max_work: its threads split C's rows in shares of 32 and pack nothing, so a
 *       smaller share may pay for the parallel region than on the packed routes
 *   prefetch_rows        packing an operand along its stored rows (B as stored, A
 *       transposed), and in the first tile of each panel of the broadcast forms (Y's rows),
 *       the rows this far ahead are asked for
 *   ask_next_a_sliver    1: packing A as stored (its slivers transposed, rows lda apart)
 *       asks for the next sliver's rows before transposing each one; a tall A streamed from
 *       memory otherwise waits for every sliver's short rows (0: no asks)
 *   kernel_prefetch_b_rows  the AVX-512 12 x 32 microkernel (ck_gemm_kernel_avx512) asks for
 *       the B sliver's row this far ahead of the one it multiplies, into L1 (0: none); the
 *       other microkernels ignore it (gemm.h). Only the two-FMA table sets it; there it
 *       acts on the packed routes other than PACKED, whose 8 x 48 kernel ignores it
 *   own_slivers_in_place_max_b  floats of op(B) (k x n) up to which own slivers of B as
 *       stored are read in place (PACKED_OWN_SLIVERS_IN_PLACE) rather than packed
 *   in_place_l2_sets, in_place_sets_per_tile  (0 sets: neither applies) B in place also
 *       only while the sets of L2 its rows cycle through (ck_gemm_set_cycle, an L2 of
 *       in_place_l2_sets sets) number at least in_place_sets_per_tile for each of its tiles
 *       of rows (ceil(m / mr)): every tile reads the whole sliver again, from rows that share
 *       few sets when ldb is a multiple of a power of two (4 KB apart: 16 sets; 8 KB: 8), and
 *       the more tiles read it from there, the sooner packing it once pays
 *   next_sliver_max_lines  cache lines of the next own sliver asked for at most per tile
 *       (the rest the packing asks for itself): a larger burst of asks fills the core's
 *       queue of misses and stalls the tile
 *   own_slivers_max_a    floats of A~ (m x min(k, kc)) up to which a thread may pack all m
 *       rows as one block and take own slivers, even past mc rows (0: only up to mc rows);
 *       above 0 it also breaks the packed layout's ties towards one row part (see below)
 *   own_slivers_margin   with own_slivers_max_a: one row part that fits own slivers stays
 *       unless a grid of several row parts gives the busiest thread fewer tiles by more than
 *       1 / own_slivers_margin of them (0: by any)
 *   along_rows_max_b     floats of a thread's part of a B~ block (min(k, kc) by its
 *       columns of min(n, nc)) up to which PACKED goes along C's rows (0: never)
 *   own_slivers_one_block  1: a product of one k block and one A~ block (k <= kc, m <= mc)
 *       takes own slivers however small B is: on one thread, and on several when C's rows
 *       start on cache lines (ck_gemm_c_on_lines: a split of C by columns then shares no line
 *       between threads). Each thread packs all of A~ (at most mc x kc floats) rather than
 *       wait at a barrier for a shared B~, half of it then read from the other core's cache;
 *       on one thread B as stored is then read in place where it may be (0: only by
 *       ck_gemm_own_slivers_fit)
 *   own_slivers_group    own slivers of B as stored (not in place) are packed this many at a
 *       time (0 or 1: one at a time, the next asked for while the tiles of the current one
 *       compute): a small A~ (few tiles a sliver) leaves too little arithmetic to hide the
 *       wait for a sliver's kc pieces, ldb apart, where the group's are read along B's rows
 *   pack_b_row_block     a group of own slivers is packed this many rows at a time across all
 *       its slivers, each row read along its columns (0: a sliver at a time, a piece of each
 *       of kc rows with the asks ahead): rows a multiple of 16 KB apart share so few sets of
 *       L1 and L2 that the pieces asked for ahead evict each other, and only a long run
 *       along a row is prefetched in time
 *   pack_transpose_max_floats, pack_transpose_columns  a sliver packed by transposing (A as
 *       stored, B transposed; ck_gemm_pack_a, ck_gemm_pack_b) of more than
 *       pack_transpose_max_floats floats (its rows or columns by kc) is filled
 *       pack_transpose_columns of its k columns at a time (at least 1), so that the lines of it
 *       they fill stay in L1 while every group of 4 source rows writes 16 bytes to each; a
 *       smaller one stays in L1 anyway and is filled in one pass, each group of source rows
 *       read straight through. The 12 x 32 kernel's whole A slivers and the AVX-512 kernels'
 *       B slivers are transposed by code of their own, which does not read these
 *   own_slivers_by_rows  1: own slivers where B~ would be larger than the product's own A~
 *       (its rows, up to mc, by kc), not only than a whole A~ block (mc x kc): a product of
 *       fewer rows than mc and few columns then packs each B sliver as it needs it, with no
 *       barrier around a shared B~ in every k block (0: against a whole A~ block)
 *   one_thread_own_slivers_in_place_only  1: on one thread, own slivers that only
 *       own_slivers_one_block or own_slivers_by_rows allow are taken only where B is read in
 *       place (ck_gemm_b_in_place); where their slivers would be packed, B~ is packed in one
 *       pass instead. One thread has no barrier to skip, and a sliver packed right before its
 *       few tiles read it (a small batch's dH = dY·Wᵀ, B transposed) costs more than one pass
 *       over a B~ that stays in L2 (0: on any thread count)
 * The route may depend on the thread count (PACKED, PACKED_ALONG_ROWS or
 * PACKED_OWN_SLIVERS), the bits never: all compute every element with the same operations. */
typedef struct {
    ck_gemm_arch arch;
    const char *name;
    const ck_gemm_isa *isa; /* NULL where the instruction set is not compiled (not x86-64) */
    const ck_gemm_isa *packed_isa; /* PACKED's tiles, when not isa's (NULL: isa's) */
    int64_t mc, kc, nc;
    int64_t min_work_per_thread;
    int64_t direct_max_work;
    int64_t broadcast_max_work;
    int64_t dot_min_k, dot_max_n, dot_max_m, dot_column_block;
    int64_t transposed_max_n, transposed_min_work_per_thread;
    int64_t row_panel_max_k;
    int64_t prefetch_rows;
    int64_t ask_next_a_sliver;
    int64_t kernel_prefetch_b_rows;
    int64_t own_slivers_in_place_max_b;
    int64_t in_place_l2_sets, in_place_sets_per_tile;
    int64_t own_slivers_max_a, own_slivers_margin;
    int64_t next_sliver_max_lines;
    int64_t along_rows_max_b;
    int64_t own_slivers_one_block;
    int64_t own_slivers_group, pack_b_row_block;
    int64_t pack_transpose_max_floats, pack_transpose_columns;
    int64_t own_slivers_by_rows;
    int64_t one_thread_own_slivers_in_place_only;
} ck_gemm_table;

/* The table of arch (never NULL). */
const ck_gemm_table *ck_gemm_table_of(ck_gemm_arch arch);

/* The table ck_sgemm uses now, or NULL before the first product (gemm_plan.c), and the
 * choice of it on that first use: CK_GEMM_PATH, or this CPU's architecture. */
extern _Atomic(const ck_gemm_table *) ck_gemm_current;
const ck_gemm_table *ck_gemm_choose_table(void);

/* The table ck_sgemm uses now: one load per product (inline, no call: a tiny product does
 * little more work than the code around it). Acquire pairs with the release store that
 * published it. */
static inline const ck_gemm_table *ck_gemm_current_table(void) {
    const ck_gemm_table *table = atomic_load_explicit(&ck_gemm_current, memory_order_acquire);
    return table != NULL ? table : ck_gemm_choose_table();
}

/* A product as the caller gave it (ck_sgemm's arguments), with its epilogue (NULL: none).
 * update (NULL: none), on PACKED or PACKED_ALONG_ROWS only, in one k block, with beta 0 and
 * no epilogue: the tiles go along C's rows, C is not stored, and each finished row panel of
 * it is the gradient of the panel of update's parameters at the same place, and updates them
 * at once (ck_sgemm_sgd, ck_sgemm_adam, ck_sgemm_rmsprop). */
typedef struct {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
    const ck_gemm_epilogue *epilogue;
    const ck_param_update *update;
} ck_gemm_operands;

/* How the packed route splits C between `threads` threads: a tm x tn grid of rectangles, and
 * whether each thread packs its own B~ slivers (PACKED_OWN_SLIVERS). */
typedef struct {
    int tm, tn;
    int own_slivers;
} ck_gemm_packed_layout;

/* The route of a product and the threads it runs on (1: no parallel region); for the packed
 * routes also the layout for those threads and whether the tiles are the table's packed_isa's
 * (packed_tile) rather than its isa's. */
typedef struct {
    ck_gemm_route route;
    int threads;
    ck_gemm_packed_layout layout;
    int packed_tile;
} ck_gemm_plan;

/* The tiles a table's routes compute with: its instruction set's, mr x nr, and the blocked
 * product's on the table's packed_isa, packed_mr x packed_nr (the same where it has none). */
typedef struct {
    int mr, nr, packed_mr, packed_nr;
} ck_gemm_tiles;

/* The tiles of table t, whose instruction sets are compiled here. */
static inline ck_gemm_tiles ck_gemm_tiles_of(const ck_gemm_table *t) {
    const ck_gemm_isa *packed = t->packed_isa != NULL ? t->packed_isa : t->isa;
    return (ck_gemm_tiles){t->isa->mr, t->isa->nr, packed->mr, packed->nr};
}

static inline int64_t ck_gemm_min64(int64_t x, int64_t y) { return x < y ? x : y; }

/* The block size that cuts total (> 0) into the fewest blocks of at most max (a multiple of
 * unit), all of one size in whole units but the last, which is smaller by less than a unit
 * per block: no block is a short remainder. */
static inline int64_t ck_gemm_equal_block(int64_t total, int64_t max, int64_t unit) {
    const int64_t blocks = (total + max - 1) / max;
    return ((total + blocks - 1) / blocks + unit - 1) / unit * unit;
}

/* The threads worth using for `work` units when each should get at least min_work:
 * ck_threads_for with at most max_threads threads (0: ck_get_num_threads(), asked only when
 * more than one thread is worth it). */
static inline int ck_gemm_threads_for(int64_t work, int64_t min_work, int max_threads) {
    if (work < 2 * min_work) return 1; /* no division for a small product */
    const int64_t useful = work / min_work;
    if (useful < 2) return 1;
    const int threads = max_threads > 0 ? max_threads : ck_get_num_threads();
    return useful < threads ? (int)useful : threads;
}

/* Whether one row part of m rows, its columns split tn ways, may take own slivers on table t:
 * B~ would be larger than the A~ block (mc x kc, sized for L2; with by_rows, which is the
 * table's own_slivers_by_rows where that applies, the product's own A~, min(m, mc) x kc), so
 * that packing each sliver of B as it is needed beats sharing B~, and the thread's rows are
 * one A~ block: at most mc rows, or at most own_slivers_max_a floats of m x min(k, kc) when
 * each thread's part of B~ is still larger than that whole A~ (every thread packs all of A~:
 * that must cost less than the B~ it no longer shares). */
static inline int ck_gemm_own_slivers_fit(const ck_gemm_table *t, int by_rows, int tn, int64_t m,
                                          int64_t n, int64_t k) {
    const int64_t kc = ck_gemm_min64(k, t->kc), nc = ck_gemm_min64(n, t->nc);
    const int64_t a_block = by_rows ? ck_gemm_min64(m, t->mc) * kc : t->mc * t->kc;
    if (kc * nc <= a_block) return 0;
    return m <= t->mc || (m <= t->own_slivers_max_a / kc && nc / tn > m);
}

/* How many sets of a cache of `sets` sets of 64-byte lines (16 floats) rows `ld` floats apart
 * cycle through: floats a multiple of sets * 16 apart share a set, so sets * 16 / gcd(sets *
 * 16, ld) of them (at most all). */
static inline int64_t ck_gemm_set_cycle(int64_t ld, int64_t sets) {
    int64_t x = sets * 16, y = ld;
    while (y != 0) { /* x = gcd(sets * 16, ld) */
        const int64_t r = x % y;
        x = y;
        y = r;
    }
    return ck_gemm_min64(sets * 16 / x, sets);
}

/* Whether own slivers of g's B (as stored, not transposed) are read in place on table t with
 * tiles of mr rows: at most mc rows, op(B) of at most own_slivers_in_place_max_b floats, and
 * no more tiles than the sets its rows cycle through allow (in_place_sets_per_tile). */
static inline int ck_gemm_b_in_place(const ck_gemm_table *t, int mr, const ck_gemm_operands *g) {
    int64_t b_floats; /* k*n, saturated */
    if (__builtin_mul_overflow(g->n, g->k, &b_floats)) b_floats = INT64_MAX;
    if (g->trans_b || g->m > t->mc || b_floats > t->own_slivers_in_place_max_b) return 0;
    if (t->in_place_l2_sets == 0) return 1;
    const int64_t tiles = (g->m + mr - 1) / mr;
    return tiles * t->in_place_sets_per_tile <= ck_gemm_set_cycle(g->ldb, t->in_place_l2_sets);
}

/* Whether the rows of g's C start on cache lines (64 bytes): its first element does, and its
 * leading dimension is a whole number of lines. */
static inline int ck_gemm_c_on_lines(const ck_gemm_operands *g) {
    return (uintptr_t)g->c % 64 == 0 && g->ldc % 16 == 0;
}

/* The packed route's layout for product g on `threads` threads: one row part with own slivers
 * for a product of one k block and one A~ block on a table with own_slivers_one_block (see the
 * table; on one thread, with one_thread_own_slivers_in_place_only, it and own_slivers_by_rows
 * only where B is read in place); else the grid whose busiest thread has the fewest tiles of an
 * m x min(n, nc) block, and own slivers when there is one row part that fits them
 * (ck_gemm_own_slivers_fit). On a tie, more row parts (fewer duplicate A~ packs), except on a
 * table with own_slivers_max_a, where one row part that fits own slivers wins, and keeps
 * winning against a grid that saves its busiest thread no more than 1 / own_slivers_margin of
 * its tiles: each thread then packs only the B slivers it reads, with no barrier and no B~ read
 * from another core's cache, at the cost of packing all of A~ itself. */
static inline ck_gemm_packed_layout ck_gemm_packed_layout_for(const ck_gemm_table *t,
                                                              int mr, int nr, int threads,
                                                              const ck_gemm_operands *g) {
    const int64_t m = g->m, n = g->n, k = g->k;
    /* Whether the rules that extend own slivers (one block, by rows) apply. */
    const int extended = threads > 1 || !t->one_thread_own_slivers_in_place_only ||
                         ck_gemm_b_in_place(t, mr, g);
    const int by_rows = extended && t->own_slivers_by_rows;
    if (extended && t->own_slivers_one_block && k <= t->kc && m <= t->mc &&
        (threads == 1 || ck_gemm_c_on_lines(g)))
        return (ck_gemm_packed_layout){1, threads, 1};
    const int64_t mtiles = (m + mr - 1) / mr;
    const int64_t ntiles = (ck_gemm_min64(n, t->nc) + nr - 1) / nr;
    ck_gemm_packed_layout layout = {threads, 1, 0};
    int64_t best = INT64_MAX;
    int one_row_part_fits = 0;
    for (int rows = 1; rows <= threads; rows++) {
        if (threads % rows != 0) continue;
        const int cols = threads / rows;
        const int64_t busiest = ((mtiles + rows - 1) / rows) * ((ntiles + cols - 1) / cols);
        if (rows == 1)
            one_row_part_fits =
                t->own_slivers_max_a > 0 && ck_gemm_own_slivers_fit(t, by_rows, cols, m, n, k);
        /* Against one row part that fits own slivers, a grid must save its busiest thread
         * more than best / own_slivers_margin tiles (a margin of 0: any). */
        const int64_t bar = layout.tm == 1 && one_row_part_fits && t->own_slivers_margin > 0
                                ? best - best / t->own_slivers_margin
                                : best;
        if (busiest < bar || (busiest == best && !one_row_part_fits)) {
            best = busiest;
            layout.tm = rows;
            layout.tn = cols;
        }
    }
    layout.own_slivers =
        layout.tm == 1 && ck_gemm_own_slivers_fit(t, by_rows, layout.tn, m, n, k);
    return layout;
}

/* Whether PACKED goes along C's rows on table t, its columns split tn ways: each thread's
 * part of a B~ block (the widest: whole slivers) is at most along_rows_max_b floats. */
static inline int ck_gemm_along_rows_fit(const ck_gemm_table *t, int nr, int tn, int64_t n,
                                         int64_t k) {
    const int64_t slivers = (ck_gemm_min64(n, t->nc) + nr - 1) / nr;
    const int64_t columns = (slivers + tn - 1) / tn * nr;
    return columns * ck_gemm_min64(k, t->kc) <= t->along_rows_max_b;
}

/* The plan of product g on table t with at most max_threads threads (0: the library's
 * thread count). tiles are t's (passed apart so that a table whose instruction sets are not
 * compiled here can still be planned). */
static inline __attribute__((always_inline)) ck_gemm_plan
ck_gemm_plan_for(const ck_gemm_table *t, ck_gemm_tiles tiles, int max_threads,
                 const ck_gemm_operands *g) {
    const int64_t m = g->m, n = g->n, k = g->k;
    const int mr = tiles.mr, nr = tiles.nr;
    if (m <= 0 || n <= 0) return (ck_gemm_plan){CK_GEMM_ROUTE_NOTHING, 1};
    /* m*n and m*n*k, saturated (a product being planned, ck_gemm_route_for's, has no C whose
     * size would bound them). */
    int64_t elements, work;
    if (__builtin_mul_overflow(m, n, &elements)) elements = INT64_MAX;
    if (g->alpha == 0.0f || k <= 0)
        return (ck_gemm_plan){CK_GEMM_ROUTE_SCALE,
                              ck_gemm_threads_for(elements, CK_PARALLEL_MIN_ELEMENTS,
                                                  max_threads)};

    /* The threads are counted only for the routes that may use more than one: the direct
     * routes of small products (the spiral's) are planned with a few comparisons. */
    if (__builtin_mul_overflow(elements, k, &work)) work = INT64_MAX;
    if (k >= t->dot_min_k && !g->trans_a &&
        (n <= t->dot_max_n || (g->trans_b && m <= t->dot_max_m)))
        return (ck_gemm_plan){CK_GEMM_ROUTE_DOT,
                              ck_gemm_threads_for(work, t->min_work_per_thread, max_threads)};
    if (work <= t->direct_max_work) {
        if (g->trans_a && (g->trans_b || m > n))
            return (ck_gemm_plan){CK_GEMM_ROUTE_BROADCAST_TRANSPOSED, 1};
        if (k <= t->row_panel_max_k && g->alpha == 1.0f && g->beta == 0.0f &&
            ck_gemm_row_panels_fit(g->epilogue))
            return (ck_gemm_plan){CK_GEMM_ROUTE_ROW_PANELS, 1};
        return (ck_gemm_plan){CK_GEMM_ROUTE_BROADCAST, 1};
    }
    if (g->trans_a && n <= t->transposed_max_n && m > n)
        return (ck_gemm_plan){CK_GEMM_ROUTE_BROADCAST_TRANSPOSED,
                              ck_gemm_threads_for(work, t->transposed_min_work_per_thread,
                                                  max_threads)};
    const int threads = ck_gemm_threads_for(work, t->min_work_per_thread, max_threads);
    if (work <= t->broadcast_max_work && !g->trans_a && !g->trans_b)
        return (ck_gemm_plan){CK_GEMM_ROUTE_BROADCAST, threads};
    const ck_gemm_packed_layout layout = ck_gemm_packed_layout_for(t, mr, nr, threads, g);
    if (layout.own_slivers)
        return (ck_gemm_plan){ck_gemm_b_in_place(t, mr, g)
                                  ? CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE
                                  : CK_GEMM_ROUTE_PACKED_OWN_SLIVERS,
                              threads, layout, 0};
    if (ck_gemm_along_rows_fit(t, nr, layout.tn, n, k))
        return (ck_gemm_plan){CK_GEMM_ROUTE_PACKED_ALONG_ROWS, threads, layout, 0};
    if (tiles.packed_mr == mr && tiles.packed_nr == nr)
        return (ck_gemm_plan){CK_GEMM_ROUTE_PACKED, threads, layout, 0};
    /* PACKED on the table's packed tile, laid out for that tile: where that layout has own
     * slivers, they are packed (never read in place), on the packed tile too. */
    const ck_gemm_packed_layout wide =
        ck_gemm_packed_layout_for(t, tiles.packed_mr, tiles.packed_nr, threads, g);
    return (ck_gemm_plan){wide.own_slivers ? CK_GEMM_ROUTE_PACKED_OWN_SLIVERS
                                           : CK_GEMM_ROUTE_PACKED,
                          threads, wide, 1};
}

/* The routes: each computes product g on table t (whose instruction set is compiled and
 * supported by this CPU) as its plan says. The direct routes, ck_gemm_dot and
 * ck_gemm_broadcast, are inline in gemm_dot.h and gemm_broadcast.h. */
void ck_gemm_scale(const ck_gemm_table *t, const ck_gemm_operands *g, int threads);
void ck_gemm_packed(const ck_gemm_table *t, const ck_gemm_operands *g, ck_gemm_plan plan);

#endif
