/* Element-wise functions of one tensor for the graph (negation, exp, log, sqrt, pow, abs,
 * sin, cos, GELU), forward and backward, and the scaled add and fill that move gradients.
 * Each is a loop over a range of independent elements, run by ck_parallel_for on the calling
 * thread or, above CK_PARALLEL_MIN_ELEMENTS, on several threads. exp, log and pow are written
 * in plain arithmetic (vector_math.h, power.h), sin, cos and GELU in double arithmetic
 * rounded once to float (vector_sincos.h, vector_gelu.h), so that their loops vectorize,
 * compiled for each instruction set. Compiled without contracting a * b + c into a fused
 * multiply-add (FP_CONTRACT OFF; log_full_range's are explicit fmaf), so that every
 * instruction-set clone computes the same bits. */
#pragma STDC FP_CONTRACT OFF

#include "ckernels.h"
#include "power.h"
#include "threading.h"
#include "vector_gelu.h"
#include "vector_math.h"
#include "vector_sincos.h"

#include <math.h>

typedef struct {
    ck_unary_op op;
    float parameter;
    pow_form form; /* pow's form of the exponent: the parameter (forward), it minus 1 (backward) */
    int accumulate;
    const float *x; /* forward: x; backward: what the gradient is computed from, x or y */
    const float *dy; /* NULL in the forward pass */
    float *out;
} unary_args;

/* f(x), with p the parameter and form pow's form of p (which the other functions ignore). */
static inline __attribute__((always_inline)) float unary_value(ck_unary_op op, pow_form form,
                                                               float x, float p) {
    switch (op) {
    case CK_UNARY_NEGATE: return -x;
    case CK_UNARY_EXP: return exp_full_range(x);
    case CK_UNARY_LOG: return log_full_range(x);
    case CK_UNARY_SQRT: return __builtin_elementwise_sqrt(x); /* sqrtf without errno */
    case CK_UNARY_POW: return pow_by_form(form, x, p);
    default: return fabsf(x); /* CK_UNARY_ABS */
    }
}

/* Whether f'(x) is computed from the output y = f(x) (exp, sqrt) rather than from x. */
static inline int from_output(ck_unary_op op) {
    return op == CK_UNARY_EXP || op == CK_UNARY_SQRT;
}

/* dy * f'(x), from v = y for from_output(op), else v = x, the parameter p and form, pow's
 * form of p - 1 (taken in double, where it is exact). */
static inline __attribute__((always_inline)) float unary_gradient(ck_unary_op op,
                                                                  pow_form form, float v,
                                                                  float dy, float p) {
    const float x = v, y = v;
    switch (op) {
    case CK_UNARY_NEGATE: return -dy;
    case CK_UNARY_EXP: return dy * y;
    case CK_UNARY_LOG: return dy / x;
    case CK_UNARY_SQRT: return dy * 0.5f / y;
    case CK_UNARY_POW:
        return p == 0.0f ? 0.0f : dy * p * pow_for_gradient(form, x, (double)p - 1.0);
    default: /* CK_UNARY_ABS: sign(x), 0 at 0, NaN at NaN */
        return x > 0.0f ? dy : x < 0.0f ? -dy : x == 0.0f ? 0.0f : x;
    }
}

/* *out = v, or *out += v when accumulating a gradient (a constant where the loops below
 * inline it, so that each loop tests it once per range). */
static inline __attribute__((always_inline)) void put(float *out, float v, int accumulate) {
    *out = accumulate ? *out + v : v;
}

/* y = f(x) over [begin, end), op, form and the parameter p constants where the callers below
 * inline them (p a->parameter, or the same as a constant). Four vectors at a time,
 * interleaved: a function's long chain of dependent operations per vector (exp, log) then
 * overlaps with three others. */
static inline __attribute__((always_inline)) void forward_loop(ck_unary_op op, pow_form form,
                                                               float p, const unary_args *a,
                                                               int64_t begin, int64_t end) {
    const float *x = a->x;
    float *out = a->out;
#pragma clang loop interleave_count(4)
    for (int64_t i = begin; i < end; i++) out[i] = unary_value(op, form, x[i], p);
}

/* dx (+)= dy * f'(x) over [begin, end), op, form and p as in forward_loop. */
static inline __attribute__((always_inline)) void backward_loop(ck_unary_op op, pow_form form,
                                                                float p, const unary_args *a,
                                                                int64_t begin, int64_t end) {
    const float *x = a->x, *dy = a->dy;
    float *out = a->out;
    if (a->accumulate) {
        for (int64_t i = begin; i < end; i++) {
            float g = unary_gradient(op, form, x[i], dy[i], p);
            out[i] = out[i] + g;
        }
    } else {
        for (int64_t i = begin; i < end; i++) out[i] = unary_gradient(op, form, x[i], dy[i], p);
    }
}

/* The forward (dy NULL) or backward loop, op and form constants where the callers below
 * inline it, with the parameter a->parameter. */
static inline __attribute__((always_inline)) void unary_loop(ck_unary_op op, pow_form form,
                                                             const unary_args *a,
                                                             int64_t begin, int64_t end) {
    if (a->dy)
        backward_loop(op, form, a->parameter, a, begin, end);
    else
        forward_loop(op, form, a->parameter, a, begin, end);
}

/* pow's loop for the form POW_PRODUCT of the integer n in [4, 15], a constant where the
 * callers below inline it: x^n forward, dy (n + 1) x^n backward (the form is p - 1's), so
 * that pow_product forms only the powers of x that n selects. */
static inline __attribute__((always_inline)) void product_loop(int n, const unary_args *a,
                                                               int64_t begin, int64_t end) {
    if (a->dy)
        backward_loop(CK_UNARY_POW, POW_PRODUCT, (float)(n + 1), a, begin, end);
    else
        forward_loop(CK_UNARY_POW, POW_PRODUCT, (float)n, a, begin, end);
}

/* pow's x^-n, n an integer in [2, 15], form the form of -n, backward and accumulate
 * constants where the callers below inline them: x^-n forward (p = -n), dy (1 - n) x^-n
 * backward (p = 1 - n), over [begin, end). Each element in inverse_power_in_range by
 * inverse_power_fused, any other (0, inf, NaN, the far ends of float's range) by
 * pow_by_form, both computed and one selected. */
static inline __attribute__((always_inline)) void inverse_power_selecting(
    int n, pow_form form, int backward, int accumulate, const unary_args *a, int64_t begin,
    int64_t end) {
    const float *x = a->x, *dy = a->dy, p = backward ? (float)(1 - n) : (float)-n;
    float *out = a->out;
    for (int64_t i = begin; i < end; i++) {
        const float v = inverse_power_in_range(x[i], n) ? inverse_power_fused(x[i], n)
                                                        : pow_by_form(form, x[i], -n);
        put(&out[i], backward ? dy[i] * p * v : v, accumulate);
    }
}

CK_VECTORIZED_FMA static void inverse_power_any(int n, pow_form form, const unary_args *a,
                                                int64_t begin, int64_t end);

/* The same for a constant n over [begin, end) in blocks of POWER_BLOCK: a full block with
 * every element in inverse_power_in_range (all but rare ones) by inverse_power_fused alone,
 * in a loop of the constant size POWER_BLOCK (no remainder to test for); any other block by
 * inverse_power_any. An element's bits do not depend on its block. */
enum { POWER_BLOCK = 256 };
static inline __attribute__((always_inline)) void inverse_power_blocks(
    int n, pow_form form, int backward, int accumulate, const unary_args *a, int64_t begin,
    int64_t end) {
    const float *x = a->x, *dy = a->dy, p = backward ? (float)(1 - n) : (float)-n;
    float *out = a->out;
    int64_t block = begin;
    for (; end - block >= POWER_BLOCK; block += POWER_BLOCK) {
        int outside = 0;
        for (int j = 0; j < POWER_BLOCK; j++) outside |= !inverse_power_in_range(x[block + j], n);
        if (outside) {
            inverse_power_any(n, form, a, block, block + POWER_BLOCK);
            continue;
        }
        for (int j = 0; j < POWER_BLOCK; j++) {
            const int64_t i = block + j;
            const float v = inverse_power_fused(x[i], n);
            put(&out[i], backward ? dy[i] * p * v : v, accumulate);
        }
    }
    if (block < end) inverse_power_any(n, form, a, block, end);
}

/* inverse_power_blocks (`blocks`, n a constant) or inverse_power_selecting, forward or
 * backward as a->dy says, accumulating or not. */
static inline __attribute__((always_inline)) void inverse_power_loop(int n, pow_form form,
                                                                     int blocks,
                                                                     const unary_args *a,
                                                                     int64_t begin,
                                                                     int64_t end) {
    const int backward = a->dy != NULL, accumulate = backward && a->accumulate;
    if (blocks && !backward)
        inverse_power_blocks(n, form, 0, 0, a, begin, end);
    else if (blocks && accumulate)
        inverse_power_blocks(n, form, 1, 1, a, begin, end);
    else if (blocks)
        inverse_power_blocks(n, form, 1, 0, a, begin, end);
    else if (!backward)
        inverse_power_selecting(n, form, 0, 0, a, begin, end);
    else if (accumulate)
        inverse_power_selecting(n, form, 1, 1, a, begin, end);
    else
        inverse_power_selecting(n, form, 1, 0, a, begin, end);
}

/* inverse_power_selecting for an n that is not a constant (its powers by selects): the
 * blocks with elements beyond inverse_power_in_range, and a range's last block. A function
 * of its own (compiled for each instruction set, never inlined), so that the loops of a
 * constant n leave it out. */
CK_VECTORIZED_FMA static void inverse_power_any(int n, pow_form form, const unary_args *a,
                                                int64_t begin, int64_t end) {
    inverse_power_loop(n, form, 0, a, begin, end);
}

/* pow's loop for an integer n of the form POW_PRODUCT (positive) or POW_INVERSE_PRODUCT
 * (negative n, its magnitude), each n its own loop. */
static inline __attribute__((always_inline)) void per_exponent_loop(pow_form form, int n,
                                                                    const unary_args *a,
                                                                    int64_t begin,
                                                                    int64_t end) {
    if (form == POW_PRODUCT)
        product_loop(n, a, begin, end);
    else
        inverse_power_loop(n, POW_INVERSE_PRODUCT, 1, a, begin, end);
}

/* The same for the n of the form's exponent (p forward, p - 1 backward), |n| in [4, 15]. */
static inline __attribute__((always_inline)) void product_form_loop(pow_form form,
                                                                    const unary_args *a,
                                                                    int64_t begin,
                                                                    int64_t end) {
    const double q = a->dy ? (double)a->parameter - 1.0 : a->parameter;
    switch ((int)fabs(q)) {
    case 4: per_exponent_loop(form, 4, a, begin, end); break;
    case 5: per_exponent_loop(form, 5, a, begin, end); break;
    case 6: per_exponent_loop(form, 6, a, begin, end); break;
    case 7: per_exponent_loop(form, 7, a, begin, end); break;
    case 8: per_exponent_loop(form, 8, a, begin, end); break;
    case 9: per_exponent_loop(form, 9, a, begin, end); break;
    case 10: per_exponent_loop(form, 10, a, begin, end); break;
    case 11: per_exponent_loop(form, 11, a, begin, end); break;
    case 12: per_exponent_loop(form, 12, a, begin, end); break;
    case 13: per_exponent_loop(form, 13, a, begin, end); break;
    case 14: per_exponent_loop(form, 14, a, begin, end); break;
    default: per_exponent_loop(form, 15, a, begin, end); break;
    }
}

/* The loops of pow, each compiled for its form (and integer exponent) and for each instruction
 * set (CK_VECTORIZED_FMA: inverse_power_fused's fused multiply-adds). x^-2 forward by
 * inverse_power_loop; backward, the form of p - 1 = -2 is pow(x, -1)'s gradient, in float
 * (pow_for_gradient). */
CK_VECTORIZED_FMA static void pow_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
    switch (a->form) {
    case POW_ONE: unary_loop(CK_UNARY_POW, POW_ONE, a, begin, end); break;
    case POW_IDENTITY: unary_loop(CK_UNARY_POW, POW_IDENTITY, a, begin, end); break;
    case POW_SQUARE: unary_loop(CK_UNARY_POW, POW_SQUARE, a, begin, end); break;
    case POW_CUBE: unary_loop(CK_UNARY_POW, POW_CUBE, a, begin, end); break;
    case POW_RECIPROCAL: unary_loop(CK_UNARY_POW, POW_RECIPROCAL, a, begin, end); break;
    case POW_INVERSE_SQUARE:
        if (a->dy)
            unary_loop(CK_UNARY_POW, POW_INVERSE_SQUARE, a, begin, end);
        else
            inverse_power_loop(2, POW_INVERSE_SQUARE, 1, a, begin, end);
        break;
    case POW_INVERSE_CUBE: inverse_power_loop(3, POW_INVERSE_CUBE, 1, a, begin, end); break;
    case POW_SQRT: unary_loop(CK_UNARY_POW, POW_SQRT, a, begin, end); break;
    case POW_INVERSE_SQRT: unary_loop(CK_UNARY_POW, POW_INVERSE_SQRT, a, begin, end); break;
    case POW_PRODUCT: product_form_loop(POW_PRODUCT, a, begin, end); break;
    case POW_INVERSE_PRODUCT: product_form_loop(POW_INVERSE_PRODUCT, a, begin, end); break;
    case POW_EVEN: unary_loop(CK_UNARY_POW, POW_EVEN, a, begin, end); break;
    case POW_ODD: unary_loop(CK_UNARY_POW, POW_ODD, a, begin, end); break;
    default: unary_loop(CK_UNARY_POW, POW_NON_INTEGER, a, begin, end); break;
    }
}

/* The loops of the other functions in plain arithmetic, each compiled for its function and
 * for each instruction set (CK_VECTORIZED_FMA: log's fused multiply-adds). */
CK_VECTORIZED_FMA static void arithmetic_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
    switch (a->op) {
    case CK_UNARY_NEGATE: unary_loop(CK_UNARY_NEGATE, POW_ONE, a, begin, end); break;
    case CK_UNARY_EXP: unary_loop(CK_UNARY_EXP, POW_ONE, a, begin, end); break;
    case CK_UNARY_LOG: unary_loop(CK_UNARY_LOG, POW_ONE, a, begin, end); break;
    case CK_UNARY_SQRT: unary_loop(CK_UNARY_SQRT, POW_ONE, a, begin, end); break;
    default: unary_loop(CK_UNARY_ABS, POW_ONE, a, begin, end); break;
    }
}

/* ---- sin, cos and GELU in double arithmetic ------------------------------------------- */

static inline int is_trig_or_gelu(ck_unary_op op) {
    return op == CK_UNARY_SIN || op == CK_UNARY_COS || op == CK_UNARY_GELU;
}

/* sin, cos and GELU each have a fast form, in a vectorized loop, for the x with
 * magnitude_bits(x) <= fast_limit(op), and a slow form for the rest (large |x|, inf, NaN):
 *   sin(x + turns pi/2)  sine_float            sine_libm            |x| <= 2^24
 *   GELU and GELU'       gelu_central, ...     gelu_wide, ...       |x| <= 3.25
 * turns is sine's quarter turns (sin 0, cos 1, and one more for the derivative). */
static inline uint32_t fast_limit(ck_unary_op op) {
    return op == CK_UNARY_GELU ? CK_GELU_CENTRAL_BITS : CK_SINE_MAX_BITS;
}

/* f(x) forward, or dy f'(x) with `backward`, by the fast form (meaningless beyond it). */
static inline __attribute__((always_inline)) float fast_form(ck_unary_op op, unsigned turns,
                                                             int backward, float x, float dy) {
    if (op == CK_UNARY_GELU) return backward ? gelu_gradient_central(x, dy) : gelu_central(x);
    const float v = sine_float(x, turns);
    return backward ? dy * v : v;
}

/* The same by the slow form, for any x. */
static inline __attribute__((always_inline)) float slow_form(ck_unary_op op, unsigned turns,
                                                             int backward, float x, float dy) {
    if (op == CK_UNARY_GELU) return backward ? gelu_gradient_wide(x, dy) : gelu_wide(x);
    const float v = sine_libm(x, turns);
    return backward ? dy * v : v;
}

/* The elements of a range beyond the fast form, saved with their x, dy and the out they
 * accumulate into before the fast loop writes out (which may alias x or dy), then computed
 * together by the slow form (in a vectorized loop where it vectorizes) when the list is full
 * or the range done. */
enum { FAST_BLOCK = 64, SLOW_CAPACITY = 256 };
typedef struct {
    int count;
    int64_t index[SLOW_CAPACITY];
    float x[SLOW_CAPACITY], dy[SLOW_CAPACITY], out[SLOW_CAPACITY];
} slow_elements;

/* Adds the elements of block [block, block + n) beyond the fast form to the list (room for
 * n more), found by a bit mask. A function of its own (compiled for each instruction set,
 * never inlined), so that the rare path leaves the fast loop its registers. */
CK_VECTORIZED static void save_slow(const unary_args *a, uint32_t limit, int64_t block, int n,
                                    slow_elements *s) {
    uint64_t mask = 0; /* bit j: element block + j is beyond the fast form */
    for (int j = 0; j < n; j++) mask |= (uint64_t)(magnitude_bits(a->x[block + j]) > limit) << j;
    for (; mask; mask &= mask - 1) {
        const int64_t i = block + __builtin_ctzll(mask);
        s->index[s->count] = i;
        s->x[s->count] = a->x[i];
        s->dy[s->count] = a->dy ? a->dy[i] : 0.0f;
        s->out[s->count] = a->out[i];
        s->count++;
    }
}

/* v[k] = the slow form of listed element k, op, turns and backward constants where
 * put_slow inlines it (GELU's loop vectorizes; sine's calls libm). */
static inline __attribute__((always_inline)) void slow_values(ck_unary_op op, unsigned turns,
                                                              int backward,
                                                              const slow_elements *s,
                                                              float *v) {
    for (int k = 0; k < s->count; k++) v[k] = slow_form(op, turns, backward, s->x[k], s->dy[k]);
}

/* Puts the listed elements' slow forms into out, and empties the list. A function of its
 * own, as save_slow. */
CK_VECTORIZED static void put_slow(const unary_args *a, unsigned turns, slow_elements *s) {
    float v[SLOW_CAPACITY];
    if (a->op != CK_UNARY_GELU)
        slow_values(CK_UNARY_SIN, turns, a->dy != 0, s, v);
    else if (a->dy)
        slow_values(CK_UNARY_GELU, 0, 1, s, v);
    else
        slow_values(CK_UNARY_GELU, 0, 0, s, v);
    for (int k = 0; k < s->count; k++)
        a->out[s->index[k]] = a->accumulate ? s->out[k] + v[k] : v[k];
    s->count = 0;
}

/* f forward, or dy f' with `backward`, over the n elements of the block at `block`: the fast
 * form in one vectorized loop over the block, straight into out, after the block's elements
 * beyond it (rare for sin and for GELU of normal inputs) are saved to the list; their slow
 * forms later overwrite what that loop wrote. An element's bits do not depend on its block. */
static inline __attribute__((always_inline)) void fast_slow_block(const unary_args *a,
                                                                  ck_unary_op op,
                                                                  unsigned turns, int backward,
                                                                  int accumulate, int64_t block,
                                                                  int n, slow_elements *slow) {
    const uint32_t limit = fast_limit(op);
    const float *x = a->x + block, *dy = backward ? a->dy + block : NULL;
    float *out = a->out + block;
    uint32_t largest = 0; /* of the block's magnitude_bits */
#pragma omp simd reduction(max : largest)
    for (int j = 0; j < n; j++) {
        const uint32_t m = magnitude_bits(x[j]);
        largest = largest > m ? largest : m;
    }
    if (largest > limit) {
        if (slow->count > SLOW_CAPACITY - n) put_slow(a, turns, slow);
        save_slow(a, limit, block, n, slow);
    }
#pragma omp simd
#pragma clang loop interleave_count(4)
    for (int j = 0; j < n; j++)
        put(&out[j], fast_form(op, turns, backward, x[j], backward ? dy[j] : 0.0f), accumulate);
}

/* The same over [begin, end) in blocks of FAST_BLOCK, each full block with the constant
 * FAST_BLOCK as its size (so that its loops have no remainder to test for), the last one
 * with what is left. */
static inline __attribute__((always_inline)) void fast_slow_loop(const unary_args *a,
                                                                 ck_unary_op op, unsigned turns,
                                                                 int backward, int accumulate,
                                                                 int64_t begin, int64_t end) {
    slow_elements slow;
    slow.count = 0;
    int64_t block = begin;
    for (; end - block >= FAST_BLOCK; block += FAST_BLOCK)
        fast_slow_block(a, op, turns, backward, accumulate, block, FAST_BLOCK, &slow);
    if (block < end)
        fast_slow_block(a, op, turns, backward, accumulate, block, (int)(end - block), &slow);
    if (slow.count) put_slow(a, turns, &slow);
}

/* The loops of sin, cos and GELU, forward (no dy) or backward, accumulating or not, each
 * compiled for each instruction set. sin = sin(x + 0), cos = sin(x + pi/2), and their
 * derivatives a quarter turn further: sin' = cos, cos' = -sin = sin(x + pi). */
CK_VECTORIZED static void trig_gelu_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
    const int backward = a->dy != 0;
    if (a->op == CK_UNARY_GELU) {
        if (!backward)
            fast_slow_loop(a, CK_UNARY_GELU, 0, 0, 0, begin, end);
        else if (a->accumulate)
            fast_slow_loop(a, CK_UNARY_GELU, 0, 1, 1, begin, end);
        else
            fast_slow_loop(a, CK_UNARY_GELU, 0, 1, 0, begin, end);
    } else {
        const unsigned turns = (a->op == CK_UNARY_COS) + backward;
        if (!backward)
            fast_slow_loop(a, CK_UNARY_SIN, turns, 0, 0, begin, end);
        else if (a->accumulate)
            fast_slow_loop(a, CK_UNARY_SIN, turns, 1, 1, begin, end);
        else
            fast_slow_loop(a, CK_UNARY_SIN, turns, 1, 0, begin, end);
    }
}

static void run_unary(const unary_args *args, int64_t n) {
    ck_unary_op op = args->op;
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS),
                    op == CK_UNARY_POW        ? pow_range
                    : is_trig_or_gelu(op) ? trig_gelu_range
                                              : arithmetic_range,
                    args);
}

void ck_unary_forward(ck_unary_op op, int64_t n, const float *x, float parameter, float *y) {
    unary_args args = {op, parameter, pow_form_of(parameter), 0, x, NULL, y};
    run_unary(&args, n);
}

void ck_unary_backward(ck_unary_op op, int64_t n, const float *x, const float *y,
                       const float *dy, float parameter, int accumulate, float *dx) {
    unary_args args = {op,           parameter, pow_form_of((double)parameter - 1.0), accumulate,
                       from_output(op) ? y : x, dy, dx};
    run_unary(&args, n);
}

/* ---- scaled add and fill ---------------------------------------------------------------- */

typedef struct {
    float alpha;
    int accumulate;
    const float *x;
    float *y;
} scaled_add_args;

CK_VECTORIZED static void scaled_add_range(const void *args, int64_t begin, int64_t end) {
    const scaled_add_args *a = args;
    const float alpha = a->alpha, *x = a->x;
    float *y = a->y;
    if (!a->accumulate && alpha == 1.0f) {
        for (int64_t i = begin; i < end; i++) y[i] = x[i];
    } else if (!a->accumulate) {
#pragma omp simd
        for (int64_t i = begin; i < end; i++) y[i] = alpha * x[i];
    } else {
#pragma omp simd
        for (int64_t i = begin; i < end; i++) {
            const float scaled = alpha * x[i]; /* its own statement: never fused into the sum */
            y[i] = y[i] + scaled;
        }
    }
}

void ck_scaled_add(int64_t n, float alpha, const float *x, int accumulate, float *y) {
    scaled_add_args args = {alpha, accumulate, x, y};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), scaled_add_range,
                    &args);
}

typedef struct {
    float value;
    float *x;
} fill_args;

CK_VECTORIZED static void fill_range(const void *args, int64_t begin, int64_t end) {
    const fill_args *a = args;
#pragma omp simd
    for (int64_t i = begin; i < end; i++) a->x[i] = a->value;
}

void ck_fill(int64_t n, float value, float *x) {
    fill_args args = {value, x};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), fill_range, &args);
}
