/* Element-wise functions of one tensor for the graph (negation, exp, log, sqrt, pow, abs,
 * sin, cos, GELU), forward and backward, and the scaled add and fill that move gradients.
 * Each is a loop over a range of independent elements, run by ck_parallel_for on the calling
 * thread or, above CK_PARALLEL_MIN_ELEMENTS, on several threads. exp, log and pow are libm's
 * (a call per element), for their accuracy; sin, cos and GELU are computed in double
 * arithmetic that vectorizes and rounded once to float (vector_sincos.h, vector_gelu.h). */
#include "ckernels.h"
#include "threading.h"
#include "vector_gelu.h"
#include "vector_sincos.h"

#include <math.h>

typedef struct {
    ck_unary_op op;
    float parameter;
    int accumulate;
    const float *x; /* forward: x; backward: what the gradient is computed from, x or y */
    const float *dy; /* backward; NULL in the forward pass */
    float *out;
} unary_args;

static inline float unary_value(ck_unary_op op, float x, float p) {
    switch (op) {
    case CK_UNARY_NEGATE: return -x;
    case CK_UNARY_EXP: return expf(x);
    case CK_UNARY_LOG: return logf(x);
    case CK_UNARY_SQRT: return sqrtf(x);
    case CK_UNARY_POW: return powf(x, p);
    default: return fabsf(x); /* CK_UNARY_ABS */
    }
}

/* Whether f'(x) is computed from the output y = f(x) (exp, sqrt) rather than from x. */
static inline int from_output(ck_unary_op op) {
    return op == CK_UNARY_EXP || op == CK_UNARY_SQRT;
}

/* dy * f'(x), from v = y for from_output(op), else v = x, and the parameter. */
static inline float unary_gradient(ck_unary_op op, float v, float dy, float p) {
    const float x = v, y = v;
    switch (op) {
    case CK_UNARY_NEGATE: return -dy;
    case CK_UNARY_EXP: return dy * y;
    case CK_UNARY_LOG: return dy / x;
    case CK_UNARY_SQRT: return dy * 0.5f / y;
    case CK_UNARY_POW: return p == 0.0f ? 0.0f : dy * p * powf(x, p - 1.0f);
    default: /* CK_UNARY_ABS: sign(x), 0 at 0, NaN at NaN */
        return x > 0.0f ? dy : x < 0.0f ? -dy : x == 0.0f ? 0.0f : x;
    }
}

/* ---- sin, cos and GELU in double arithmetic ------------------------------------------- */

static inline int is_trig_or_gelu(ck_unary_op op) {
    return op == CK_UNARY_SIN || op == CK_UNARY_COS || op == CK_UNARY_GELU;
}

/* out[i] = v, or out[i] += v when accumulating a gradient. */
static inline void put(const unary_args *a, int64_t i, float v) {
    a->out[i] = a->accumulate ? a->out[i] + v : v;
}

/* sin(x + turns pi/2), forward, or dy sin(x + turns pi/2) with `backward`, over [begin, end)
 * in blocks: a block whose arguments are all within CK_SINE_MAX_ARGUMENT is one vectorized
 * loop of sine_float; one with a larger |x|, inf or NaN goes element by element, those
 * elements by libm. An element's bits do not depend on its block. */
enum { SINE_BLOCK = 256 };
static inline __attribute__((always_inline)) void sine_loop(const unary_args *a,
                                                            unsigned turns, int backward,
                                                            int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; block += SINE_BLOCK) {
        int64_t stop = end - block > SINE_BLOCK ? block + SINE_BLOCK : end;
        int far = 0;
        for (int64_t i = block; i < stop; i++)
            far |= !(fabsf(a->x[i]) <= CK_SINE_MAX_ARGUMENT);
        if (!far) {
#pragma omp simd
            for (int64_t i = block; i < stop; i++) {
                float v = sine_float(a->x[i], turns);
                put(a, i, backward ? a->dy[i] * v : v);
            }
        } else {
            for (int64_t i = block; i < stop; i++) {
                float x = a->x[i];
                float v = fabsf(x) <= CK_SINE_MAX_ARGUMENT ? sine_float(x, turns)
                                                           : sine_libm(x, turns);
                put(a, i, backward ? a->dy[i] * v : v);
            }
        }
    }
}

/* GELU, forward, or dy GELU' with `backward`, over [begin, end). */
static inline __attribute__((always_inline)) void gelu_loop(const unary_args *a,
                                                            int backward, int64_t begin,
                                                            int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; i++)
        put(a, i, backward ? gelu_gradient_float(a->x[i], a->dy[i]) : gelu_float(a->x[i]));
}

/* The loops of sin, cos and GELU, forward (no dy) or backward, each compiled for each
 * instruction set. sin = sin(x + 0), cos = sin(x + pi/2), and their derivatives a quarter
 * turn further: sin' = cos, cos' = -sin = sin(x + pi). */
CK_VECTORIZED static void trig_gelu_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
    const int backward = a->dy != 0;
    if (a->op == CK_UNARY_GELU) {
        if (backward)
            gelu_loop(a, 1, begin, end);
        else
            gelu_loop(a, 0, begin, end);
    } else {
        const unsigned turns = (a->op == CK_UNARY_COS) + (unsigned)backward;
        if (backward)
            sine_loop(a, turns, 1, begin, end);
        else
            sine_loop(a, turns, 0, begin, end);
    }
}

/* ---- the others -------------------------------------------------------------------- */

static void unary_forward_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
    for (int64_t i = begin; i < end; i++) a->out[i] = unary_value(a->op, a->x[i], a->parameter);
}

void ck_unary_forward(ck_unary_op op, int64_t n, const float *x, float parameter, float *y) {
    unary_args args = {op, parameter, 0, x, 0, y};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS),
                    is_trig_or_gelu(op) ? trig_gelu_range : unary_forward_range, &args);
}

/* dx (+)= dy * f'(x) over [begin, end), op a constant where the callers below inline it. */
static inline __attribute__((always_inline)) void backward_loop(ck_unary_op op,
                                                                const unary_args *a,
                                                                int64_t begin, int64_t end) {
    if (a->accumulate) {
        for (int64_t i = begin; i < end; i++) {
            float g = unary_gradient(op, a->x[i], a->dy[i], a->parameter);
            a->out[i] = a->out[i] + g;
        }
    } else {
        for (int64_t i = begin; i < end; i++)
            a->out[i] = unary_gradient(op, a->x[i], a->dy[i], a->parameter);
    }
}

/* Whether op's gradient is plain arithmetic, with no product added in one expression (which
 * the instruction sets with FMA would fuse, rounding once instead of twice): its loop
 * vectorizes and gives the same bits in every clone. */
static inline int has_arithmetic_gradient(ck_unary_op op) {
    return op == CK_UNARY_NEGATE || op == CK_UNARY_EXP || op == CK_UNARY_LOG ||
           op == CK_UNARY_SQRT || op == CK_UNARY_ABS;
}

/* The backward loops of the functions with an arithmetic gradient, each compiled for its
 * function and for each instruction set. */
CK_VECTORIZED static void arithmetic_backward_range(const void *args, int64_t begin,
                                                    int64_t end) {
    const unary_args *a = args;
    switch (a->op) {
    case CK_UNARY_NEGATE: backward_loop(CK_UNARY_NEGATE, a, begin, end); break;
    case CK_UNARY_EXP: backward_loop(CK_UNARY_EXP, a, begin, end); break;
    case CK_UNARY_LOG: backward_loop(CK_UNARY_LOG, a, begin, end); break;
    case CK_UNARY_SQRT: backward_loop(CK_UNARY_SQRT, a, begin, end); break;
    default: backward_loop(CK_UNARY_ABS, a, begin, end); break;
    }
}

/* pow's backward loop (libm calls), for the baseline instruction set. */
static void libm_backward_range(const void *args, int64_t begin, int64_t end) {
    backward_loop(CK_UNARY_POW, args, begin, end);
}

void ck_unary_backward(ck_unary_op op, int64_t n, const float *x, const float *y,
                       const float *dy, float parameter, int accumulate, float *dx) {
    unary_args args = {op, parameter, accumulate, from_output(op) ? y : x, dy, dx};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS),
                    has_arithmetic_gradient(op) ? arithmetic_backward_range
                    : is_trig_or_gelu(op)       ? trig_gelu_range
                                                : libm_backward_range,
                    &args);
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
        for (int64_t i = begin; i < end; i++) y[i] = y[i] + alpha * x[i];
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
