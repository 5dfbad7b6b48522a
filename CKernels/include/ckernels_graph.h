/*
 * ckernels_graph.h — the graph's operations (automatic differentiation).
 *
 * Part of ckernels.h, whose conventions (layouts, sizes, aliasing, thread independence) hold
 * for every function here.
 */
#ifndef CKERNELS_GRAPH_H
#define CKERNELS_GRAPH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * The graph's operations (automatic differentiation)
 *
 * Forward and backward passes of the operations Tensor records for backward(). A backward
 * kernel writes an input's gradient dx, or adds to it: accumulate != 0 means dx += the
 * gradient, accumulate == 0 means dx = the gradient (dx not read, so it may hold anything).
 * ------------------------------------------------------------------------------------- */

/* The highest rank the broadcasting kernels (ck_binary, ck_binary_gradient, ck_sum_to) take:
 * their `rank` argument is 0 to CK_MAX_RANK; for any other rank they do nothing. */
#define CK_MAX_RANK 8

/* Binary operations: out = a op b. */
typedef enum {
    CK_BINARY_ADD = 0,
    CK_BINARY_SUBTRACT = 1,
    CK_BINARY_MULTIPLY = 2,
    CK_BINARY_DIVIDE = 3,
} ck_binary_op;

/* out (+)= a op b with NumPy broadcasting, over an output of `shape` (rank <= CK_MAX_RANK
 * dimensions, out dense row-major): the element at multi-index i reads
 * a[sum over d of i[d] * a_strides[d]] and likewise b, strides in elements (0 along the
 * dimensions an operand is broadcast over; a scalar has all strides 0). Overwrites out, or
 * adds to it when accumulate != 0. out must not overlap a or b unless it is the same array
 * read with out's own (dense) strides. Nothing happens when a dimension is 0. */
void ck_binary(ck_binary_op op, int rank, const int64_t *shape, const float *a,
               const int64_t *a_strides, const float *b, const int64_t *b_strides,
               int accumulate, float *out);

/* The gradient of operand `operand` (0: a, 1: b) of ck_binary's out = a op b from dy (dense,
 * `shape`): for each element of that operand, the sum over the output elements that read it of
 *   +: dy;  -: dy (a), -dy (b);  *: dy * b (a), dy * a (b);  /: dy / b (a), -dy * a / b^2 (b)
 * (the last as -((dy / b) * (a / b)), each quotient rounded, b^2 never formed) into dx, which
 * is laid out as the operand (dx's element for output index i is at the operand's offset for
 * i). Each element the operand was broadcast to is a sum, on one thread,
 * in double, of its terms (float) over the output elements, rounded to float once: the same
 * bits whatever the thread count or instruction set. Where dx keeps the last dimension (of
 * more than one element), the terms add in row-major order (after dx's value when
 * accumulating); where it sums that dimension too, they add in 16 double partial sums (the
 * term at index j along it to sum j % 16; the terms past a row's last full 16 to one more,
 * in order; the 16 added in a fixed tree to dx's value when accumulating, then that one),
 * which rounds differently from the order only in rare last bits.
 * Writes or accumulates dx (see above); a and b may be NULL when the term does not read them.
 * dx must not overlap dy, a or b. Nothing happens when a dimension is 0 (the caller zeroes dx
 * if needed). */
void ck_binary_gradient(ck_binary_op op, int operand, int rank, const int64_t *shape,
                        const float *dy, const float *a, const int64_t *a_strides,
                        const float *b, const int64_t *b_strides, int accumulate, float *dx);

/* Both operands' gradients of ck_binary's out = a op b for dy, a and b of n elements each, no
 * broadcasting, in one pass: db (+)= then da (+)= ck_binary_gradient's terms, per element, in
 * this order; the same bits as ck_binary_gradient for b then for a (here and below: the same
 * bits for every number, NaN where that is NaN, as a NaN's sign and payload are not fixed by
 * arithmetic and may follow how the compiler ordered it). a and b may be NULL for
 * + and - (not read). For /, quotient may be ck_binary's out = a / b (n elements), read in
 * place of a (which may then be NULL): the same bits, one division fewer per element; NULL
 * otherwise (ignored for the other operations). da and db may be the same array (an operand
 * used twice, x * x: it gets both terms, b's first); da may be NULL, then db alone is written
 * (for / with a quotient: a's value may be broadcast, as it is not read). When da and db
 * differ, da may be the array a (or the quotient, when given) and db the array b: an
 * operand's buffer that takes its gradient, each element read before it is overwritten: the
 * same bits as into arrays of their own. Otherwise neither may overlap dy, a, b or quotient. */
void ck_binary_gradients(ck_binary_op op, int64_t n, const float *dy, const float *a,
                         const float *b, const float *quotient, int accumulate_a, float *da,
                         int accumulate_b, float *db);

/* y (+)= scale * (x summed over the dimensions where y_strides is 0), for x dense of `shape`:
 * the sum of an axis (y_strides 0 along it), the reduction of a broadcast operand's gradient.
 * y's element for index i is at sum over d of i[d] * y_strides[d]. Each y element is summed
 * on one thread, in double, its terms x[i] * scale (float) in ck_binary_gradient's order (in
 * row-major order, or in 16 partial sums when the last dimension is summed), and rounded to
 * float once. y must not overlap x. */
void ck_sum_to(int rank, const int64_t *shape, const float *x, const int64_t *y_strides,
               float scale, int accumulate, float *y);

/* Element-wise functions of one tensor. */
typedef enum {
    CK_UNARY_NEGATE = 0, /* -x */
    CK_UNARY_EXP = 1,    /* e^x */
    CK_UNARY_LOG = 2,    /* natural logarithm */
    CK_UNARY_SQRT = 3,   /* square root */
    CK_UNARY_POW = 4,    /* x^p, p the parameter */
    CK_UNARY_ABS = 5,    /* |x|; gradient sign(x), 0 at 0 */
    CK_UNARY_SIN = 6,
    CK_UNARY_COS = 7,
    CK_UNARY_GELU = 8,   /* x * Phi(x), Phi the standard normal CDF, exact (erf) form */
} ck_unary_op;

/* y[i] = f(x[i]) for n elements. parameter: the exponent of CK_UNARY_POW, ignored otherwise.
 * exp, log and pow have the special values of expf, logf and powf (C's Annex F) and are
 * within 1 ulp of the exact result (exp 0.77, log 0.96, pow 0.5 plus a double's rounding);
 * sqrt is correctly rounded; sin, cos and GELU are within 0.51 ulp of the exact value
 * (libm's sinf and cosf for |x| > 2^24). y may be x. */
void ck_unary_forward(ck_unary_op op, int64_t n, const float *x, float parameter, float *y);

/* dx[i] (+)= dy[i] * f'(x[i]), from x and the forward's output y (exp and sqrt read y, the
 * others x; the one not read may be NULL). pow with exponent 0 has gradient 0 everywhere.
 * dx may be dy; it must not overlap x or y otherwise. */
void ck_unary_backward(ck_unary_op op, int64_t n, const float *x, const float *y,
                       const float *dy, float parameter, int accumulate, float *dx);

/* y[i] (+)= alpha * x[i] for n elements (with accumulate == 0 and alpha == 1, an exact copy).
 * y may be x. */
void ck_scaled_add(int64_t n, float alpha, const float *x, int accumulate, float *y);

/* x[i] = value for n elements. */
void ck_fill(int64_t n, float value, float *x);

/* The sum of n elements, added in double in chunks whose boundaries depend only on n, the
 * chunks' sums in order (the same bits whatever the thread count), rounded to float. Each
 * chunk adds in 16 double partial sums (element j of the chunk to sum j % 16, the elements
 * past its last full 16 to one more, in order; the 16 added in a fixed tree, then that one),
 * which rounds differently from adding in order only in rare last bits.
 * 0 for n == 0. */
float ck_sum(int64_t n, const float *x);

/* The mean of n elements: ck_sum's double sum divided by n before it is rounded to float once,
 * so that a mean of large elements is finite where their float sum would not be. NaN for
 * n == 0. */
float ck_mean(int64_t n, const float *x);

/* The sum of the squares of n elements, in double: each square exact, added as ck_sum adds
 * (the same bits whatever the thread count), not rounded to float, so that sums over several
 * buffers add in double too (a gradient norm). 0 for n == 0. */
double ck_sum_of_squares(int64_t n, const float *x);

/* The maximum of n >= 1 elements (a NaN is the maximum): the first maximal element, bit for
 * bit (of equal zeros, the first one's sign; of NaNs, the first one), and in *ties the number
 * of elements equal to it (NaNs, for a NaN maximum; zeros of either sign, for a zero). */
float ck_max(int64_t n, const float *x, int64_t *ties);

/* The gradient of ck_max: dx[i] (+)= share where x[i] is the maximum (as ck_max decides),
 * else 0. share = dy / ties splits the gradient evenly between ties, as PyTorch. dx must not
 * overlap x. */
void ck_max_backward(int64_t n, const float *x, float maximum, float share, int accumulate,
                     float *dx);

/* The maximum along the middle axis of a dense outer x n x inner tensor x (n >= 1):
 * y[o][i] = x[o][k][i] for the first k that is a maximum (a NaN is the maximum, the first
 * one, as PyTorch), indices[o][i] = that k. y and indices are dense outer x inner. */
void ck_max_axis(int64_t outer, int64_t n, int64_t inner, const float *x, float *y,
                 int64_t *indices);

/* The gradient of ck_max_axis: dx[o][k][i] (+)= dy[o][i] where k == indices[o][i], else 0.
 * Writes or accumulates every element of dx (dense outer x n x inner); no overlap. */
void ck_max_axis_backward(int64_t outer, int64_t n, int64_t inner, const int64_t *indices,
                          const float *dy, int accumulate, float *dx);

/* y[m][j][i] (+)= x[m][i][j] for each of `batch` dense rows x cols matrices x (y: dense
 * cols x rows matrices). No overlap. */
void ck_transpose(int64_t batch, int64_t rows, int64_t cols, const float *x, int accumulate,
                  float *y);

/* dst[r][j] (+)= src[r][j] for a rows x cols block, src with leading dimension lds, dst
 * with ldd (concatenation and its backward pass). No overlap. */
void ck_copy_block(int64_t rows, int64_t cols, const float *src, int64_t lds, int accumulate,
                   float *dst, int64_t ldd);

/* The backward pass of ck_gather_rows: dtable (table_rows x cols, dense) (+)= for each r in
 * 0..<rows, dy row r added to row indices[r], rows in order (an index repeated sums its rows
 * in that order). Rows never gathered get 0 (or keep their values when accumulating). Every
 * index must be in [0, table_rows) (the caller checks). Threads split the table's rows. No
 * overlap. */
void ck_scatter_add_rows(int64_t rows, int64_t cols, const float *dy, const int64_t *indices,
                         int64_t table_rows, int accumulate, float *dtable);

/* y[i] = log softmax(x[i]) = (x[i] - max) - log(sum over j of exp(x[i][j] - max)) for a
 * dense rows x classes matrix (classes >= 1), each row from its maximum (stable), the sum in
 * double as ck_softmax's, rounded to float once. y may be x. */
void ck_log_softmax(int64_t rows, int64_t classes, const float *x, float *y);

/* The gradient of ck_log_softmax from its output y: dx[i][j] (+)= dy[i][j] - exp(y[i][j]) *
 * (sum over k of dy[i][k], in double as ck_softmax's sums, rounded to float once). dx must
 * not overlap y or dy. */
void ck_log_softmax_backward(int64_t rows, int64_t classes, const float *y, const float *dy,
                             int accumulate, float *dx);

/* Binary cross-entropy on logits (PyTorch's BCEWithLogitsLoss, mean reduction) over n >= 1
 * logits z and targets t: returns (1 / n) * sum over i of
 *   max(z[i], 0) - z[i] * t[i] + log(1 + exp(-|z[i]|))
 * (for z[i] = +-inf its limit: inf times 1 - t[i] for +inf, t[i] for -inf, 0 where that is 0)
 * (summed in double, in an order independent of the thread count), and writes, unless NULL,
 * dz[i] = (sigmoid(z[i]) - t[i]) / n and dt[i] = -z[i] / n. dz and dt must not overlap z or
 * t. */
float ck_binary_cross_entropy_logits(int64_t n, const float *z, const float *t, float *dz,
                                     float *dt);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_GRAPH_H */
