/* Element-wise binary operations with NumPy broadcasting, forward and backward, and sums over
 * broadcast dimensions (ck_binary, ck_binary_gradient, ck_sum_to).
 *
 * Every kernel here walks the elements of an output shape in row-major order and, at each,
 * computes a term from up to three operands (dy, a, b, each addressed through its own
 * strides, 0 along the dimensions it is broadcast over) for a target addressed through its
 * strides. When the target's stride is 0 along some dimensions, several output elements add
 * into one target element: each target element is then its own sum, in double, of its terms
 * (and of its value first, when accumulating), rounded to float once: in row-major order
 * when the target keeps the last dimension; when it sums the last dimension too, in double
 * lanes (sum_lanes.h), the term at index j along the last dimension in lane j % SUM_LANES
 * (the terms past a row's last full block of SUM_LANES in the rest, in order).
 * Rows whose operands are dense or broadcast along them (strides 0 or 1) run in loops
 * compiled for those strides, which the compiler vectorizes: the same terms. Threads split
 * the range of one dimension along which the target's stride is not 0 (the outermost such),
 * so no two threads write the same element and each sum runs on one thread, in the same
 * order whatever the thread count. */
#include "binary_terms.h"
#include "ckernels.h"
#include "sum_lanes.h"
#include "threading.h"

#include <string.h>

/* The operands, in this order, and the target. */
enum { DY, A, B, TARGET, ARRAYS };

/* Whether term `kind` reads operand x (DY, A or B). */
static inline int term_reads(int kind, int x) {
    switch (x) {
    case DY: return kind >= TERM_DY;
    case A: return kind < TERM_DY || kind == TERM_DY_TIMES_A || kind == TERM_QUOTIENT_B;
    default:
        return kind < TERM_DY || kind == TERM_DY_TIMES_B || kind == TERM_DY_OVER_B ||
               kind == TERM_QUOTIENT_B;
    }
}

/* Whether a target of term `kind` may have stride 0 somewhere, making sums: only the
 * gradients' (ck_binary_gradient, ck_sum_to) may; ck_binary's out is dense. The sums' code
 * is compiled for these terms only. */
static inline int term_may_sum(int kind) { return kind >= TERM_DY; }

/* Runs CALL(K), K the term `kind` as a constant, so that the code CALL inlines is compiled
 * once for each term (term()'s switch folded away). */
#define WITH_CONSTANT_TERM(kind, CALL)                                                             \
    switch (kind) {                                                                                \
    case TERM_ADD: CALL(TERM_ADD); break;                                                          \
    case TERM_SUBTRACT: CALL(TERM_SUBTRACT); break;                                                \
    case TERM_MULTIPLY: CALL(TERM_MULTIPLY); break;                                                \
    case TERM_DIVIDE: CALL(TERM_DIVIDE); break;                                                    \
    case TERM_DY: CALL(TERM_DY); break;                                                            \
    case TERM_NEGATED_DY: CALL(TERM_NEGATED_DY); break;                                            \
    case TERM_DY_TIMES_B: CALL(TERM_DY_TIMES_B); break;                                            \
    case TERM_DY_TIMES_A: CALL(TERM_DY_TIMES_A); break;                                            \
    case TERM_DY_OVER_B: CALL(TERM_DY_OVER_B); break;                                              \
    default: CALL(TERM_QUOTIENT_B); break;                                                         \
    }

typedef struct {
    int kind, rank, split; /* split: the dimension whose range threads share */
    int sums;              /* the target's stride is 0 along some dimension */
    int accumulate;        /* add to the target's values instead of overwriting them */
    int64_t shape[CK_MAX_RANK];
    int64_t strides[ARRAYS][CK_MAX_RANK];
    const float *operand[3];
    float *target;
} walk_args;

/* Runs CALL(SD, SA, SB) with the strides of dy, a and b along a row as constants in the
 * usual case, so that the row's loop is compiled, and vectorized, for them: dy dense (a
 * gradient's dy always is), a and b each dense or broadcast along the row (stride 1 or 0);
 * the stride of an operand the term `kind` does not read counts as 0. With the variables
 * otherwise. */
#define WITH_UNIT_STRIDES(kind, sd, sa, sb, CALL)                                                  \
    do {                                                                                           \
        const int64_t sd_ = term_reads(kind, DY) ? (sd) : 0;                                       \
        const int64_t sa_ = term_reads(kind, A) ? (sa) : 0;                                        \
        const int64_t sb_ = term_reads(kind, B) ? (sb) : 0;                                        \
        if (sd_ != term_reads(kind, DY) || (uint64_t)sa_ > 1 || (uint64_t)sb_ > 1) {               \
            CALL(sd_, sa_, sb_);                                                                   \
            break;                                                                                 \
        }                                                                                          \
        const int64_t sd1_ = term_reads(kind, DY);                                                 \
        switch (sa_ << 1 | sb_) {                                                                  \
        case 0: CALL(sd1_, 0, 0); break;                                                           \
        case 1: CALL(sd1_, 0, 1); break;                                                           \
        case 2: CALL(sd1_, 1, 0); break;                                                           \
        default: CALL(sd1_, 1, 1); break;                                                          \
        }                                                                                          \
    } while (0)

/* One row (the last dimension, n elements) of a target with no stride 0: target (+)= terms. */
static inline __attribute__((always_inline)) void walk_row_strided(
    int kind, int64_t n, const float *dy, int64_t sd, const float *a, int64_t sa,
    const float *b, int64_t sb, float *t, int64_t st, int accumulate) {
    if (accumulate) {
        for (int64_t j = 0; j < n; j++)
            t[j * st] = t[j * st] + term(kind, dy[j * sd], a[j * sa], b[j * sb]);
    } else {
        for (int64_t j = 0; j < n; j++) t[j * st] = term(kind, dy[j * sd], a[j * sa], b[j * sb]);
    }
}

/* walk_row_strided, compiled for the usual strides where the target is dense. A forward
 * operand that is the target itself (ck_binary in place, out = a or out = b) is passed as
 * the target, so that the compiler sees one array: for two pointers it checks at run time
 * whether the arrays overlap, and as they do, it would run the loop's scalar form. */
static inline __attribute__((always_inline)) void walk_row(
    int kind, int64_t n, const float *dy, int64_t sd, const float *a, int64_t sa,
    const float *b, int64_t sb, float *t, int64_t st, int accumulate) {
    if (st != 1) {
        walk_row_strided(kind, n, dy, sd, a, sa, b, sb, t, st, accumulate);
        return;
    }
    if (!term_may_sum(kind) && a == t && sa == 1) {
#define ROW(SD, SA, SB) walk_row_strided(kind, n, dy, SD, t, 1, b, SB, t, 1, accumulate)
        WITH_UNIT_STRIDES(kind, sd, 1, sb, ROW);
#undef ROW
        return;
    }
    if (!term_may_sum(kind) && b == t && sb == 1) {
#define ROW(SD, SA, SB) walk_row_strided(kind, n, dy, SD, a, SA, t, 1, t, 1, accumulate)
        WITH_UNIT_STRIDES(kind, sd, sa, 1, ROW);
#undef ROW
        return;
    }
#define ROW(SD, SA, SB) walk_row_strided(kind, n, dy, SD, a, SA, b, SB, t, 1, accumulate)
    WITH_UNIT_STRIDES(kind, sd, sa, sb, ROW);
#undef ROW
}

/* Adds the n terms of one row to the partial sums (sum_lanes.h): term j of the full blocks to
 * lane j % SUM_LANES, the last n % SUM_LANES to the rest. */
static inline __attribute__((always_inline)) void sum_row_strided(
    int kind, int64_t n, const float *dy, int64_t sd, const float *a, int64_t sa,
    const float *b, int64_t sb, sum_lanes *lane) {
    float terms[SUM_LANES];
    int64_t j = 0;
    for (; j + SUM_LANES <= n; j += SUM_LANES) {
        for (int k = 0; k < SUM_LANES; k++)
            terms[k] = term(kind, dy[(j + k) * sd], a[(j + k) * sa], b[(j + k) * sb]);
        sum_lanes_add_block(lane, terms);
    }
    for (; j < n; j++) lane->rest += term(kind, dy[j * sd], a[j * sa], b[j * sb]);
}

/* sum_row_strided, compiled for the usual strides. */
static inline __attribute__((always_inline)) void sum_row(
    int kind, int64_t n, const float *dy, int64_t sd, const float *a, int64_t sa,
    const float *b, int64_t sb, sum_lanes *lane) {
#define ROW(SD, SA, SB) sum_row_strided(kind, n, dy, SD, a, SA, b, SB, lane)
    WITH_UNIT_STRIDES(kind, sd, sa, sb, ROW);
#undef ROW
}

/* Steps index over the dimensions dims[0 .. count), each in [lo, hi), to the next position in
 * row-major order, moving each array's offset with it; returns 0, index back at lo, after the
 * last position. */
static inline __attribute__((always_inline)) int next_position(
    const walk_args *w, const int *dims, int count, const int64_t *lo, const int64_t *hi,
    int64_t *index, int64_t offset[ARRAYS]) {
    for (int k = count - 1; k >= 0; k--) {
        const int d = dims[k];
        if (++index[d] < hi[d]) {
            for (int x = 0; x < ARRAYS; x++) offset[x] += w->strides[x][d];
            return 1;
        }
        for (int x = 0; x < ARRAYS; x++) offset[x] -= (index[d] - 1 - lo[d]) * w->strides[x][d];
        index[d] = lo[d];
    }
    return 0;
}

/* The columns kept together by a sum whose last dimension is not summed: one double each, in
 * registers across the summed rows. */
enum { SUM_COLUMNS = 32 };

/* Target elements j0 .. j0 + count (count <= SUM_COLUMNS) along the last dimension, which the
 * target keeps, at the kept position whose offsets are `at`: each the sum of its terms over
 * the summed dimensions dims[0 .. count_dims) (all before the last). sd, sa and sb are the
 * operands' strides along the last dimension, and count is SUM_COLUMNS, as constants where
 * the caller knows them. */
static inline __attribute__((always_inline)) void sum_columns(
    int kind, const walk_args *w, const int *dims, int count_dims, const int64_t at[ARRAYS],
    int64_t j0, const int count, const int64_t sd, const int64_t sa, const int64_t sb) {
    const int last = w->rank - 1;
    const int64_t st = w->strides[TARGET][last];
    int64_t offset[ARRAYS], index[CK_MAX_RANK], lo[CK_MAX_RANK] = {0};
    for (int x = 0; x < ARRAYS; x++) offset[x] = at[x] + j0 * w->strides[x][last];
    for (int k = 0; k < count_dims; k++) index[dims[k]] = 0;
    float *t = w->target + offset[TARGET];
    double sum[SUM_COLUMNS];
    for (int j = 0; j < count; j++) sum[j] = w->accumulate ? (double)t[j * st] : 0.0;
    do {
        const float *dy = w->operand[DY] + offset[DY], *a = w->operand[A] + offset[A],
                    *b = w->operand[B] + offset[B];
        for (int j = 0; j < count; j++)
            sum[j] += (double)term(kind, dy[j * sd], a[j * sa], b[j * sb]);
    } while (next_position(w, dims, count_dims, lo, w->shape, index, offset));
    for (int j = 0; j < count; j++) t[j * st] = (float)sum[j];
}

/* sum_columns of SUM_COLUMNS elements, compiled for the usual strides. */
static inline __attribute__((always_inline)) void sum_column_block(
    int kind, const walk_args *w, const int *dims, int count_dims, const int64_t at[ARRAYS],
    int64_t j0) {
    const int last = w->rank - 1;
#define COLUMNS(SD, SA, SB)                                                                        \
    sum_columns(kind, w, dims, count_dims, at, j0, SUM_COLUMNS, SD, SA, SB)
    WITH_UNIT_STRIDES(kind, w->strides[DY][last], w->strides[A][last], w->strides[B][last],
                      COLUMNS);
#undef COLUMNS
}

/* The target element at the kept position whose offsets are `at`, the last dimension summed:
 * the sum of its terms over the summed dimensions dims[0 .. count_dims) (all before the
 * last), each position's row added to the same lanes. */
static inline __attribute__((always_inline)) void sum_rows(
    int kind, const walk_args *w, const int *dims, int count_dims, const int64_t at[ARRAYS]) {
    const int last = w->rank - 1;
    int64_t offset[ARRAYS], index[CK_MAX_RANK], lo[CK_MAX_RANK] = {0};
    for (int x = 0; x < ARRAYS; x++) offset[x] = at[x];
    for (int k = 0; k < count_dims; k++) index[dims[k]] = 0;
    float *t = w->target + offset[TARGET];
    sum_lanes lane;
    sum_lanes_begin(&lane);
    do {
        sum_row(kind, w->shape[last], w->operand[DY] + offset[DY], w->strides[DY][last],
                w->operand[A] + offset[A], w->strides[A][last], w->operand[B] + offset[B],
                w->strides[B][last], &lane);
    } while (next_position(w, dims, count_dims, lo, w->shape, index, offset));
    *t = (float)sum_lanes_total(w->accumulate ? (double)*t : 0.0, &lane);
}

/* The target elements of the walk with indices along `split` in [begin, end), all others
 * complete: for each kept position (the dimensions before the last along which the target's
 * stride is not 0), its sums over the summed ones, SUM_COLUMNS elements of the last
 * dimension at a time when the target keeps it. */
static inline __attribute__((always_inline)) void sum_kind(int kind, const walk_args *w,
                                                           int64_t begin, int64_t end) {
    const int last = w->rank - 1;
    int kept[CK_MAX_RANK], summed[CK_MAX_RANK], count_kept = 0, count_summed = 0;
    int64_t lo[CK_MAX_RANK], hi[CK_MAX_RANK], index[CK_MAX_RANK], at[ARRAYS] = {0, 0, 0, 0};
    for (int d = 0; d < w->rank; d++) {
        lo[d] = d == w->split ? begin : 0;
        hi[d] = d == w->split ? end : w->shape[d];
        index[d] = lo[d];
        if (lo[d] >= hi[d]) return;
        if (d == last) continue;
        if (w->strides[TARGET][d] == 0) {
            summed[count_summed++] = d;
        } else {
            kept[count_kept++] = d;
            for (int x = 0; x < ARRAYS; x++) at[x] += lo[d] * w->strides[x][d];
        }
    }
    do {
        if (w->strides[TARGET][last] == 0) {
            sum_rows(kind, w, summed, count_summed, at);
            continue;
        }
        int64_t j = lo[last];
        for (; j + SUM_COLUMNS <= hi[last]; j += SUM_COLUMNS)
            sum_column_block(kind, w, summed, count_summed, at, j);
        if (j < hi[last])
            sum_columns(kind, w, summed, count_summed, at, j, (int)(hi[last] - j),
                        w->strides[DY][last], w->strides[A][last], w->strides[B][last]);
    } while (next_position(w, kept, count_kept, lo, hi, index, at));
}

/* Rows of the walk with indices along `split` in [begin, end), all others complete, in
 * row-major order (a target with no stride 0), or the sums (one with). */
static inline __attribute__((always_inline)) void walk_kind(int kind, const walk_args *w,
                                                            int64_t begin, int64_t end) {
    if (term_may_sum(kind) && w->sums) {
        sum_kind(kind, w, begin, end);
        return;
    }
    const int last = w->rank - 1;
    int64_t lo[CK_MAX_RANK], hi[CK_MAX_RANK], index[CK_MAX_RANK];
    for (int d = 0; d < w->rank; d++) {
        lo[d] = d == w->split ? begin : 0;
        hi[d] = d == w->split ? end : w->shape[d];
        index[d] = lo[d];
    }
    if (lo[last] >= hi[last]) return;
    for (;;) {
        int64_t offset[ARRAYS] = {0, 0, 0, 0};
        for (int d = 0; d < last; d++)
            for (int x = 0; x < ARRAYS; x++) offset[x] += index[d] * w->strides[x][d];
        int64_t first = lo[last];
        for (int x = 0; x < ARRAYS; x++) offset[x] += first * w->strides[x][last];
        walk_row(kind, hi[last] - first, w->operand[DY] + offset[DY], w->strides[DY][last],
                 w->operand[A] + offset[A], w->strides[A][last], w->operand[B] + offset[B],
                 w->strides[B][last], w->target + offset[TARGET], w->strides[TARGET][last],
                 w->accumulate);
        int d = last - 1;
        while (d >= 0) {
            if (++index[d] < hi[d]) break;
            index[d] = lo[d];
            d--;
        }
        if (d < 0) return;
    }
}

/* The walk with the term kind as a constant, so that each loop is compiled for its term. */
CK_VECTORIZED static void walk_range(const void *args, int64_t begin, int64_t end) {
    const walk_args *w = args;
#define WALK(K) walk_kind(K, w, begin, end)
    WITH_CONSTANT_TERM(w->kind, WALK)
#undef WALK
}

/* Stands in for an operand a term does not read (read at stride 0, never used). */
static const float unused_operand = 0.0f;

/* The walk of a single dimension of n elements, on one thread, without the set-up: one row
 * (element-wise operations on small tensors; the same terms in the same order as the walk),
 * or its sum into one element when the target's stride is 0 (the walk's lanes). */
CK_VECTORIZED static void walk_one_row(int kind, int64_t n, const float *const operand[3],
                                       const int64_t *const strides[ARRAYS], int accumulate,
                                       float *target) {
    const float *dy = operand[DY], *a = operand[A], *b = operand[B];
    const int64_t sd = strides[DY][0], sa = strides[A][0], sb = strides[B][0];
    const int64_t st = strides[TARGET][0];
    sum_lanes lane;
#define ROW(K)                                                                                     \
    if (!term_may_sum(K) || st != 0) {                                                             \
        walk_row(K, n, dy, sd, a, sa, b, sb, target, st, accumulate);                              \
    } else {                                                                                       \
        sum_lanes_begin(&lane);                                                                    \
        sum_row(K, n, dy, sd, a, sa, b, sb, &lane);                                                \
        *target = (float)sum_lanes_total(accumulate ? (double)*target : 0.0, &lane);               \
    }
    WITH_CONSTANT_TERM(kind, ROW)
#undef ROW
}

/* Runs a walk whose rank, shape (no dimension 0), strides, operands and target are set:
 * picks the split dimension and the threads. */
static void run_walk(walk_args *w, int64_t total) {
    w->sums = 0;
    for (int d = 0; d < w->rank; d++)
        if (w->strides[TARGET][d] == 0) w->sums = 1;
    w->split = -1;
    for (int d = 0; d < w->rank && w->split < 0; d++)
        if (w->strides[TARGET][d] != 0) w->split = d;
    if (w->split < 0) { /* the target is one element: one sum, on one thread */
        w->split = 0;
        walk_range(w, 0, w->shape[0]);
        return;
    }
    int threads = ck_threads_for(total, CK_PARALLEL_MIN_ELEMENTS);
    if (w->shape[w->split] < threads) threads = (int)w->shape[w->split];
    ck_parallel_for(w->shape[w->split], w->split == w->rank - 1 ? 16 : 1, threads, walk_range,
                    w);
}

/* Builds the walk: drops dimensions of size 1, merges neighbouring dimensions that every
 * array steps through contiguously (stride[d] == stride[d + 1] * shape[d + 1]), and runs it.
 * Does nothing when an output dimension is 0. */
static void walk(int kind, int rank, const int64_t *shape, const float *const given[3],
                 const int64_t *const given_strides[ARRAYS], int accumulate, float *target) {
    /* An operand the term does not read: unused_operand at stride 0 (it may be NULL). */
    static const int64_t zeros[CK_MAX_RANK] = {0};
    const float *operand[3];
    const int64_t *strides[ARRAYS] = {0, 0, 0, given_strides[TARGET]};
    for (int x = 0; x < 3; x++) {
        operand[x] = term_reads(kind, x) ? given[x] : &unused_operand;
        strides[x] = term_reads(kind, x) ? given_strides[x] : zeros;
    }
    if (rank == 1 && shape[0] == 1) { /* one element (scalars): walk_row's term, no loop */
        const float t = term(kind, *operand[DY], *operand[A], *operand[B]);
        *target = accumulate ? *target + t : t;
        return;
    }
    if (rank == 1 && shape[0] > 0 && shape[0] < CK_PARALLEL_MIN_ELEMENTS) {
        walk_one_row(kind, shape[0], operand, strides, accumulate, target);
        return;
    }
    /* Not zero-initialized (its arrays are a third of a kilobyte): only the first `rank`
     * entries of each are written and read. */
    walk_args w;
    w.kind = kind;
    w.accumulate = accumulate;
    w.target = target;
    int64_t total = 1;
    int r = 0;
    for (int d = 0; d < rank; d++) {
        if (shape[d] == 0) return;
        total *= shape[d];
        if (shape[d] == 1) continue;
        if (r > 0) {
            int mergeable = 1;
            for (int x = 0; x < ARRAYS; x++)
                if (w.strides[x][r - 1] != strides[x][d] * shape[d]) mergeable = 0;
            if (mergeable) {
                w.shape[r - 1] *= shape[d];
                for (int x = 0; x < ARRAYS; x++) w.strides[x][r - 1] = strides[x][d];
                continue;
            }
        }
        w.shape[r] = shape[d];
        for (int x = 0; x < ARRAYS; x++) w.strides[x][r] = strides[x][d];
        r++;
    }
    if (r == 0) { /* one element: its one term (the target's stride 1, as no sum) */
        w.shape[0] = 1;
        for (int x = 0; x < ARRAYS; x++) w.strides[x][0] = x == TARGET;
        r = 1;
    }
    w.rank = r;
    for (int x = 0; x < 3; x++) w.operand[x] = operand[x];
    run_walk(&w, total);
}

/* Whether the kernels take `rank` dimensions: their arrays hold CK_MAX_RANK. */
static int rank_supported(int rank) { return rank >= 0 && rank <= CK_MAX_RANK; }

/* The strides of a dense row-major array of `shape`. */
static void dense_strides(int rank, const int64_t *shape, int64_t *strides) {
    int64_t step = 1;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = step;
        step *= shape[d];
    }
}

void ck_binary(ck_binary_op op, int rank, const int64_t *shape, const float *a,
               const int64_t *a_strides, const float *b, const int64_t *b_strides,
               int accumulate, float *out) {
    if (!rank_supported(rank)) return;
    int64_t dense[CK_MAX_RANK], zeros[CK_MAX_RANK] = {0};
    dense_strides(rank, shape, dense);
    const float *operand[3] = {0, a, b};
    const int64_t *strides[ARRAYS] = {zeros, a_strides, b_strides, dense};
    walk((int)op, rank, shape, operand, strides, accumulate, out);
}

void ck_binary_gradient(ck_binary_op op, int operand_index, int rank, const int64_t *shape,
                        const float *dy, const float *a, const int64_t *a_strides,
                        const float *b, const int64_t *b_strides, int accumulate, float *dx) {
    static const int kinds[4][2] = {
        [CK_BINARY_ADD] = {TERM_DY, TERM_DY},
        [CK_BINARY_SUBTRACT] = {TERM_DY, TERM_NEGATED_DY},
        [CK_BINARY_MULTIPLY] = {TERM_DY_TIMES_B, TERM_DY_TIMES_A},
        [CK_BINARY_DIVIDE] = {TERM_DY_OVER_B, TERM_QUOTIENT_B},
    };
    if (!rank_supported(rank)) return;
    int64_t dense[CK_MAX_RANK];
    dense_strides(rank, shape, dense);
    const float *operand[3] = {dy, a, b};
    const int64_t *strides[ARRAYS] = {dense, a_strides, b_strides,
                                      operand_index == 0 ? a_strides : b_strides};
    walk(kinds[op][operand_index != 0], rank, shape, operand, strides, accumulate, dx);
}

void ck_sum_to(int rank, const int64_t *shape, const float *x, const int64_t *y_strides,
               float scale, int accumulate, float *y) {
    if (!rank_supported(rank)) return;
    int64_t dense[CK_MAX_RANK], zeros[CK_MAX_RANK] = {0};
    dense_strides(rank, shape, dense);
    /* y (+)= sum of x * scale: the gradient of a in a * b, with dy = x and b = scale. */
    const float *operand[3] = {x, 0, &scale};
    const int64_t *strides[ARRAYS] = {dense, zeros, zeros, y_strides};
    walk(TERM_DY_TIMES_B, rank, shape, operand, strides, accumulate, y);
}
