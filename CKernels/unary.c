/* Element-wise functions of one tensor for the graph (negation, exp, log, sqrt, pow, abs,
 * sin, cos, GELU), forward and backward, and the scaled add and fill that move gradients.
 * Each is a loop over a range of independent elements, run by ck_parallel_for on the calling
 * thread or, above CK_PARALLEL_MIN_ELEMENTS, on several threads. exp, log and pow are written
 * in plain arithmetic (vector_math.h, power.h), sin, cos and GELU in double arithmetic
 * rounded once to float (vector_sincos.h, vector_gelu.h), so that their loops vectorize,
 * compiled for each instruction set. */
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
    case CK_UNARY_POW: return p == 0.0f ? 0.0f : dy * p * pow_by_form(form, x, (double)p - 1.0);
    default: /* CK_UNARY_ABS: sign(x), 0 at 0, NaN at NaN */
        return x > 0.0f ? dy : x < 0.0f ? -dy : x == 0.0f ? 0.0f : x;
    }
}

/* y = f(x) over [begin, end), op and form constants where the callers below inline it. */
static inline __attribute__((always_inline)) void forward_loop(ck_unary_op op, pow_form form,
                                                               const unary_args *a,
                                                               int64_t begin, int64_t end) {
    const float *x = a->x, p = a->parameter;
    float *out = a->out;
    for (int64_t i = begin; i < end; i++) out[i] = unary_value(op, form, x[i], p);
}

/* dx (+)= dy * f'(x) over [begin, end), op and form constants where the callers below inline
 * it. */
static inline __attribute__((always_inline)) void backward_loop(ck_unary_op op, pow_form form,
                                                                const unary_args *a,
                                                                int64_t begin, int64_t end) {
    const float *x = a->x, *dy = a->dy, p = a->parameter;
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
 * inline it. */
static inline __attribute__((always_inline)) void unary_loop(ck_unary_op op, pow_form form,
                                                             const unary_args *a,
                                                             int64_t begin, int64_t end) {
    if (a->dy)
        backward_loop(op, form, a, begin, end);
    else
        forward_loop(op, form, a, begin, end);
}

/* The loops of pow, each compiled for its form and for each instruction set. */
CK_VECTORIZED static void pow_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
    switch (a->form) {
    case POW_ONE: unary_loop(CK_UNARY_POW, POW_ONE, a, begin, end); break;
    case POW_IDENTITY: unary_loop(CK_UNARY_POW, POW_IDENTITY, a, begin, end); break;
    case POW_SQUARE: unary_loop(CK_UNARY_POW, POW_SQUARE, a, begin, end); break;
    case POW_CUBE: unary_loop(CK_UNARY_POW, POW_CUBE, a, begin, end); break;
    case POW_RECIPROCAL: unary_loop(CK_UNARY_POW, POW_RECIPROCAL, a, begin, end); break;
    case POW_SQRT: unary_loop(CK_UNARY_POW, POW_SQRT, a, begin, end); break;
    case POW_INVERSE_SQRT: unary_loop(CK_UNARY_POW, POW_INVERSE_SQRT, a, begin, end); break;
    case POW_EVEN: unary_loop(CK_UNARY_POW, POW_EVEN, a, begin, end); break;
    case POW_ODD: unary_loop(CK_UNARY_POW, POW_ODD, a, begin, end); break;
    default: unary_loop(CK_UNARY_POW, POW_NON_INTEGER, a, begin, end); break;
    }
}

/* The loops of the other functions in plain arithmetic, with no product added in one
 * expression (which the instruction sets with FMA would fuse, rounding once instead of
 * twice) except in log (vector_math.h): each compiled for its function and for each
 * instruction set. */
CK_VECTORIZED static void arithmetic_range(const void *args, int64_t begin, int64_t end) {
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

/* *out = v, or *out += v when accumulating a gradient (a constant where the loops below
 * inline it, so that each loop tests it once per range). */
static inline __attribute__((always_inline)) void put(float *out, float v, int accumulate) {
    *out = accumulate ? *out + v : v;
}

/* sin(x + turns pi/2), forward, or dy sin(x + turns pi/2) with `backward`, over [begin, end)
 * in blocks: a block whose arguments are all within CK_SINE_MAX_ARGUMENT is one vectorized
 * loop of sine_float; one with a larger |x|, inf or NaN goes element by element, those
 * elements by libm. An element's bits do not depend on its block. */
enum { SINE_BLOCK = 256 };
static inline __attribute__((always_inline)) void sine_loop(const unary_args *a,
                                                            unsigned turns, int backward,
                                                            int accumulate, int64_t begin,
                                                            int64_t end) {
    for (int64_t block = begin; block < end; block += SINE_BLOCK) {
        int64_t stop = end - block > SINE_BLOCK ? block + SINE_BLOCK : end;
        int far = 0;
        for (int64_t i = block; i < stop; i++)
            far |= !(fabsf(a->x[i]) <= CK_SINE_MAX_ARGUMENT);
        if (!far) {
#pragma omp simd
            for (int64_t i = block; i < stop; i++) {
                float v = sine_float(a->x[i], turns);
                put(&a->out[i], backward ? a->dy[i] * v : v, accumulate);
            }
        } else {
            for (int64_t i = block; i < stop; i++) {
                float x = a->x[i];
                float v = fabsf(x) <= CK_SINE_MAX_ARGUMENT ? sine_float(x, turns)
                                                           : sine_libm(x, turns);
                put(&a->out[i], backward ? a->dy[i] * v : v, accumulate);
            }
        }
    }
}

/* GELU, forward, or dy GELU' with `backward`, over [begin, end) in chunks: one vectorized
 * loop of the central forms over the chunk, into a buffer (out may alias x or dy), then, if
 * the chunk has an x beyond the central range, inf or NaN (rare for normal inputs), those
 * elements again by their wide form, one by one. An element's bits do not depend on its
 * chunk. */
enum { GELU_CHUNK = 64 };
static inline __attribute__((always_inline)) void gelu_loop(const unary_args *a, int backward,
                                                            int accumulate, int64_t begin,
                                                            int64_t end) {
    for (int64_t chunk = begin; chunk < end; chunk += GELU_CHUNK) {
        const int n = end - chunk < GELU_CHUNK ? (int)(end - chunk) : GELU_CHUNK;
        const float *x = a->x + chunk, *dy = backward ? a->dy + chunk : NULL;
        float v[GELU_CHUNK];
        uint32_t largest = 0; /* of the chunk's magnitude_bits */
#pragma omp simd reduction(max : largest)
        for (int j = 0; j < n; j++) {
            v[j] = backward ? gelu_gradient_central(x[j], dy[j]) : gelu_central(x[j]);
            uint32_t m = magnitude_bits(x[j]);
            largest = largest > m ? largest : m;
        }
        if (largest > CK_GELU_CENTRAL_BITS) {
#pragma clang loop vectorize(disable) /* a vector would compute the wide form in every lane */
            for (int j = 0; j < n; j++)
                if (magnitude_bits(x[j]) > CK_GELU_CENTRAL_BITS)
                    v[j] = backward ? gelu_gradient_wide(x[j], dy[j]) : gelu_wide(x[j]);
        }
#pragma omp simd
        for (int j = 0; j < n; j++) put(&a->out[chunk + j], v[j], accumulate);
    }
}

/* The loops of sin, cos and GELU, forward (no dy) or backward, accumulating or not, each
 * compiled for each instruction set. sin = sin(x + 0), cos = sin(x + pi/2), and their
 * derivatives a quarter turn further: sin' = cos, cos' = -sin = sin(x + pi). */
CK_VECTORIZED static void trig_gelu_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
    if (a->op == CK_UNARY_GELU) {
        if (!a->dy)
            gelu_loop(a, 0, 0, begin, end);
        else if (a->accumulate)
            gelu_loop(a, 1, 1, begin, end);
        else
            gelu_loop(a, 1, 0, begin, end);
    } else {
        const unsigned turns = (a->op == CK_UNARY_COS) + (a->dy != 0);
        if (!a->dy)
            sine_loop(a, turns, 0, 0, begin, end);
        else if (a->accumulate)
            sine_loop(a, turns, 1, 1, begin, end);
        else
            sine_loop(a, turns, 1, 0, begin, end);
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
