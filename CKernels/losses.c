/* Losses: fused softmax + cross-entropy, the multi-class hinge, and the losses of a
 * difference against targets (squared, absolute, Huber). Compiled without contracting
 * a * b + c into a fused multiply-add (FP_CONTRACT OFF, which also holds in the inlined
 * log_positive), so that every instruction-set clone rounds each product on its own. */
#pragma STDC FP_CONTRACT OFF

#include "ckernels.h"
#include "row_max.h"
#include "row_sum_exp.h"
#include "sum_lanes.h"
#include "threading.h"
#include "vector_math.h"

#include <math.h>

/* Rows of at most GROUP_ELEMENTS / 2 classes (so that a group holds two rows or more) are
 * computed in blocks of up to BLOCK_GROUPS groups of GROUP_ELEMENTS / classes whole rows (a
 * block at most BLOCK_ELEMENTS elements, the size of block_cross_entropy's buffers), so that
 * the few classes of narrow rows together fill vector lanes, and the rows' sums, each a chain
 * of dependent additions, run side by side. Their losses are summed group by group: each
 * group's in partial sums, the groups' totals in order. Wider rows fill the lanes alone and
 * are computed one by one, which saves the blocks' passes through their buffers.
 * GROUP_ELEMENTS is a multiple of SUM_LANES (row_sum_exp's buffer). */
enum { GROUP_ELEMENTS = 256, BLOCK_GROUPS = 8, BLOCK_ELEMENTS = BLOCK_GROUPS * GROUP_ELEMENTS };

/* Returns the sum of exp(z[j] - max) over one row, and writes each term to e[j] unless e is
 * NULL (e may be z). Subtracting the row maximum keeps every exponent <= 0: no overflow. The
 * sum is taken in double in sum_lanes.h's partial sums (an order fixed by the row's length),
 * rounded to float once. */
static inline __attribute__((always_inline)) float sum_exp_shifted(int64_t classes,
                                                                   const float *z, float max,
                                                                   float *e) {
    if (!e) {
        float buffer[GROUP_ELEMENTS];
        return (float)row_sum_exp(classes, z, max, GROUP_ELEMENTS, buffer);
    }
    shifted_exp(classes, z, max, e);
    return (float)row_sum(classes, e, 0);
}

/* -log softmax(z)[label] = log(sum_j exp(z_j - max)) - (z_label - max). When d is not NULL,
 * also d = (softmax(z) - onehot(label)) * scale; d may be z. The maximum (row_max.h) passes
 * NaN elements over: their exponentials make the row's results NaN all the same. Always
 * inlined, so that each instruction-set clone of its caller compiles it for its own
 * instruction set. */
static inline __attribute__((always_inline)) float
row_cross_entropy(int64_t classes, const float *z, int32_t label, float *d, float scale) {
    float max = row_max(classes, z, NULL);
    float shifted_label = z[label] - max; /* read before d (possibly z) is written */
    float sum = sum_exp_shifted(classes, z, max, d);
    if (d) {
        float factor = scale / sum;
        for (int64_t j = 0; j < classes; j++) d[j] *= factor;
        d[label] -= scale;
    }
    return log_positive(sum) - shifted_label;
}

/* A loss over a rows x classes matrix of scores x and one label per row, with its gradient
 * dx (NULL: none): the arguments of the row functions below. */
typedef struct {
    int64_t rows, classes;
    const float *x;
    const int32_t *labels;
    float *dx;
} label_loss_args;

/* Rows [first, first + rows) of a block (rows * classes <= BLOCK_ELEMENTS): their gradients,
 * and the totals of the losses of its groups of `group` rows (the last may have fewer) added
 * to *total in order. The steps of row_cross_entropy, each taken over the whole block, so
 * that the exponentials and logarithms fill vector lanes however few classes a row has (3
 * classes would fill 3 of 16 lanes):
 *   1. per row: its maximum, -(z_label - max) into loss[i], z - max into the buffer e;
 *   2. the block: e = exp(e), one loop over all rows * classes elements;
 *   3. per row: the sum of its exponentials into sum[i];
 *   4. the block: loss[i] += log(sum[i]), one loop over the rows; each group's total;
 *   5. per row: d = e * (scale / sum[i]), and -scale at the label.
 * The sums (3 and 4) are taken in double in sum_lanes.h's partial sums, each row's rounded to
 * float once: an order fixed by the shape, not by the instruction set or the threads. Every
 * logit is read (step 1) before any gradient is written (step 5), so dx may be x. Always
 * inlined, like row_cross_entropy; `classes` is a->classes, passed as a constant where the
 * caller knows it. */
static inline __attribute__((always_inline)) void block_cross_entropy(
    const label_loss_args *a, const int64_t classes, int64_t first, int64_t rows, int64_t group,
    float scale, double *total) {
    const float *x = a->x + first * classes;
    const int32_t *labels = a->labels + first;
    float e[BLOCK_ELEMENTS], sum[BLOCK_ELEMENTS], loss[BLOCK_ELEMENTS];
    for (int64_t i = 0; i < rows; i++) {
        const float *z = x + i * classes;
        float max = row_max(classes, z, NULL);
        loss[i] = max - z[labels[i]];
#pragma omp simd
        for (int64_t j = 0; j < classes; j++) e[i * classes + j] = z[j] - max;
    }
#pragma omp simd
    for (int64_t k = 0; k < rows * classes; k++) e[k] = exp_nonpositive(e[k]);
    for (int64_t i = 0; i < rows; i++) sum[i] = (float)row_sum(classes, e + i * classes, 0);
#pragma omp simd
    for (int64_t i = 0; i < rows; i++) loss[i] += log_positive(sum[i]);
    for (int64_t g = 0; g < rows; g += group)
        *total += row_sum(rows - g < group ? rows - g : group, loss + g, 0);
    if (!a->dx) return;
    float *dx = a->dx + first * classes;
    for (int64_t i = 0; i < rows; i++) {
        float factor = scale / sum[i];
#pragma omp simd
        for (int64_t j = 0; j < classes; j++) dx[i * classes + j] = e[i * classes + j] * factor;
        dx[i * classes + labels[i]] -= scale;
    }
}

/* Rows [begin, end) in blocks of groups of whole rows, in order: their gradients and the sum
 * of their losses, the groups' totals added in order. */
static inline __attribute__((always_inline)) double blocks_cross_entropy(
    const label_loss_args *a, const int64_t classes, int64_t begin, int64_t end, float scale) {
    const int64_t group = GROUP_ELEMENTS / classes, block = BLOCK_GROUPS * group;
    double sum = 0.0;
    for (int64_t i = begin; i < end; i += block)
        block_cross_entropy(a, classes, i, end - i < block ? end - i : block, group, scale, &sum);
    return sum;
}

/* Rows [begin, end): their gradients, and the sum of their losses (in blocks of rows, or row
 * by row, in order). Up to 16 classes (one vector of AVX-512) the blocks are compiled for
 * each class count, so that their per-row loops unroll into straight code (the spiral has
 * rows of 3 classes). */
CK_VECTORIZED static double cross_entropy_rows(const void *args, int64_t begin, int64_t end) {
    const label_loss_args *a = args;
    float scale = 1.0f / (float)a->rows;
#define CLASSES(C) case C: return blocks_cross_entropy(a, C, begin, end, scale);
    switch (a->classes) {
    CLASSES(1) CLASSES(2) CLASSES(3) CLASSES(4) CLASSES(5) CLASSES(6) CLASSES(7) CLASSES(8)
    CLASSES(9) CLASSES(10) CLASSES(11) CLASSES(12) CLASSES(13) CLASSES(14) CLASSES(15)
    CLASSES(16)
    default: break;
    }
#undef CLASSES
    if (a->classes <= GROUP_ELEMENTS / 2)
        return blocks_cross_entropy(a, a->classes, begin, end, scale);
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++)
        sum += row_cross_entropy(a->classes, a->x + i * a->classes, a->labels[i],
                                 a->dx ? a->dx + i * a->classes : 0, scale);
    return sum;
}

/* Whether every label is in [0, classes). */
static int labels_valid(int64_t rows, int64_t classes, const int32_t *labels) {
    for (int64_t i = 0; i < rows; i++)
        if (labels[i] < 0 || labels[i] >= classes) return 0;
    return 1;
}

/* Checks the labels (CK_ERROR_LABEL_OUT_OF_RANGE, nothing written), then sums the rows'
 * losses with `rows_body` in a thread-independent order: *loss = that sum / divisor. */
static int label_loss(label_loss_args args, ck_range_sum_body rows_body, double divisor,
                      float *loss) {
    if (!labels_valid(args.rows, args.classes, args.labels)) return CK_ERROR_LABEL_OUT_OF_RANGE;
    if (args.rows <= 0 || args.classes <= 0) return 0;
    int threads = ck_threads_for(args.rows * args.classes, CK_PARALLEL_MIN_ELEMENTS);
    *loss = (float)(ck_parallel_sum(args.rows, 64, threads, rows_body, &args) / divisor);
    return 0;
}

int ck_softmax_cross_entropy(int64_t rows, int64_t classes, const float *logits,
                             const int32_t *labels, float *dlogits, float *loss) {
    label_loss_args args = {rows, classes, logits, labels, dlogits};
    return label_loss(args, cross_entropy_rows, (double)rows, loss);
}

/* ---- multi-class hinge loss ------------------------------------------------------------ */

/* Rows [begin, end): each row's gradient, and the sum of their losses (times classes). */
static double multi_margin_rows(const void *args, int64_t begin, int64_t end) {
    const label_loss_args *a = args;
    const float step = 1.0f / (float)(a->rows * a->classes);
    double sum = 0.0;
    for (int64_t i = begin; i < end; i++) {
        const float *x = a->x + i * a->classes;
        float *dx = a->dx ? a->dx + i * a->classes : 0;
        const int64_t label = a->labels[i];
        double row = 0.0, label_gradient = 0.0; /* sums in order, in double */
        for (int64_t j = 0; j < a->classes; j++) {
            float margin = 1.0f - x[label] + x[j];
            int active = j != label && margin > 0.0f;
            if (active) row += (double)margin;
            if (dx) dx[j] = active ? step : 0.0f;
            if (active) label_gradient -= step;
        }
        if (dx) dx[label] = (float)label_gradient;
        sum += row;
    }
    return sum;
}

int ck_multi_margin(int64_t rows, int64_t classes, const float *x, const int32_t *labels,
                    float *dx, float *loss) {
    label_loss_args args = {rows, classes, x, labels, dx};
    return label_loss(args, multi_margin_rows, (double)rows * (double)classes, loss);
}

/* ---- losses of the difference p - t: squared, absolute, Huber ---------------------------- */

/* Which function of the difference e = p - t a difference loss averages. */
typedef enum { SQUARED_ERROR, ABSOLUTE_ERROR, HUBER_ERROR } difference_loss_kind;

typedef struct {
    int64_t n;
    float delta; /* HUBER_ERROR's threshold */
    const float *p, *t;
    float *dp;
} difference_loss_args;

/* The elements i + k, k < count <= SUM_LANES: their losses added to lane k (sum_lanes.h),
 * their gradients stored to dp unless it is NULL (after all are read: dp may be p). Per
 * element, with e = p - t and the mean's 1 / n (the loss in double, the gradient in float):
 *   SQUARED_ERROR   e^2                                       dp = (2 / n) e
 *   ABSOLUTE_ERROR  |e|                                       dp = sign(e) / n, 0 at e = 0
 *   HUBER_ERROR     |e| < delta ? e^2 / 2 : delta (|e| - delta / 2)
 *                                                             dp = clamp(e, -delta, delta) / n
 * A block of fewer than SUM_LANES elements (the last) adds its losses to the rest in order.
 * Always inlined with a constant kind, so that each loss's loop has no branch on it. */
static inline __attribute__((always_inline)) void difference_block(
    const difference_loss_args *a, difference_loss_kind kind, int64_t i, int64_t count,
    sum_lanes *lane) {
    const float scale = (kind == SQUARED_ERROR ? 2.0f : 1.0f) / (float)a->n;
    const float delta = a->delta;
    const double half_delta = 0.5 * delta;
    const float *p = a->p + i, *t = a->t + i;
    double loss[SUM_LANES];
    float gradient[SUM_LANES];
    for (int k = 0; k < SUM_LANES; k++) {
        const float e = k < count ? p[k] - t[k] : 0.0f;
        float g;
        switch (kind) {
        case SQUARED_ERROR:
            loss[k] = (double)e * e;
            g = e;
            break;
        case ABSOLUTE_ERROR:
            loss[k] = (double)fabsf(e);
            g = e > 0.0f ? 1.0f : e < 0.0f ? -1.0f : 0.0f;
            break;
        case HUBER_ERROR: {
            const double magnitude = fabs((double)e);
            loss[k] = magnitude < delta ? 0.5 * magnitude * magnitude
                                        : delta * (magnitude - half_delta);
            g = e > delta ? delta : e < -delta ? -delta : e;
            break;
        }
        }
        gradient[k] = scale * g;
    }
    if (count == SUM_LANES) sum_lanes_add_terms(lane, loss);
    else for (int k = 0; k < count; k++) lane->rest += loss[k];
    if (a->dp)
        for (int k = 0; k < count; k++) a->dp[i + k] = gradient[k];
}

/* Elements [begin, end): their gradients, and the sum of their losses in double lanes, term
 * begin + j in lane j % SUM_LANES, those past the last full block in the rest (sum_lanes.h;
 * a loss in double is exact for the squared and absolute error, so only the sum rounds). */
static inline __attribute__((always_inline)) double difference_losses(
    const difference_loss_args *a, difference_loss_kind kind, int64_t begin, int64_t end) {
    sum_lanes lane;
    sum_lanes_begin(&lane);
    int64_t i = begin;
    for (; i + SUM_LANES <= end; i += SUM_LANES) difference_block(a, kind, i, SUM_LANES, &lane);
    if (i < end) difference_block(a, kind, i, end - i, &lane);
    return sum_lanes_total(0.0, &lane);
}

CK_VECTORIZED static double squared_errors(const void *args, int64_t begin, int64_t end) {
    return difference_losses(args, SQUARED_ERROR, begin, end);
}

CK_VECTORIZED static double absolute_errors(const void *args, int64_t begin, int64_t end) {
    return difference_losses(args, ABSOLUTE_ERROR, begin, end);
}

CK_VECTORIZED static double huber_errors(const void *args, int64_t begin, int64_t end) {
    return difference_losses(args, HUBER_ERROR, begin, end);
}

/* *loss = the mean of `errors`' per-element losses over n >= 1 elements (summed in chunks
 * whose order does not depend on the thread count); dp, unless NULL, their gradients. */
static void difference_loss(difference_loss_args args, ck_range_sum_body errors, float *loss) {
    if (args.n <= 0) return;
    double total = ck_parallel_sum(args.n, 1024, ck_threads_for(args.n, CK_PARALLEL_MIN_ELEMENTS),
                                   errors, &args);
    *loss = (float)(total / (double)args.n);
}

void ck_mean_squared_error(int64_t n, const float *p, const float *t, float *dp, float *loss) {
    difference_loss((difference_loss_args){n, 0.0f, p, t, dp}, squared_errors, loss);
}

void ck_l1_loss(int64_t n, const float *p, const float *t, float *dp, float *loss) {
    difference_loss((difference_loss_args){n, 0.0f, p, t, dp}, absolute_errors, loss);
}

void ck_huber_loss(int64_t n, float delta, const float *p, const float *t, float *dp,
                   float *loss) {
    difference_loss((difference_loss_args){n, delta, p, t, dp}, huber_errors, loss);
}
