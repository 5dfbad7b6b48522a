/* Element-wise layers beside ReLU's forward pass (elementwise.c): sigmoid and tanh forward,
 * the backward passes (from the output) of ReLU, sigmoid and tanh, and inverted dropout.
 * Same structure as the element-wise kernels. The file is compiled without contracting
 * a * b + c into a fused multiply-add (FP_CONTRACT OFF, which also holds in the inlined
 * exp_nonpositive), so that every instruction-set clone of a kernel computes the same bits;
 * tanh_float's fused multiply-adds are written out (fmaf), and round once on every path. */
#pragma STDC FP_CONTRACT OFF

#include "ckernels.h"
#include "relu.h"
#include "threading.h"
#include "vector_math.h"
#include "vector_tanh.h"

#include <math.h>
#include <stdint.h>

typedef struct {
    const float *x;
    float *y;
} unary_args;

typedef struct {
    const float *y, *dy;
    float *dx;
} from_output_args;

/* sigmoid(x) from e = exp(-|x|) <= 1: 1 / (1 + e) for x >= 0, e / (1 + e) below. */
CK_VECTORIZED static void sigmoid_forward_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
        float x = a->x[i];
        float e = exp_nonpositive(-fabsf(x));
        a->y[i] = (x >= 0.0f ? 1.0f : e) / (1.0f + e);
    }
}

void ck_sigmoid_forward(int64_t n, const float *x, float *y) {
    unary_args args = {x, y};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), sigmoid_forward_range,
                    &args);
}

/* Two vectors of elements per step: tanh_float's chain of dependent operations is long, and
 * interleaving two keeps more of them in flight. */
CK_VECTORIZED_FMA static void tanh_forward_range(const void *args, int64_t begin, int64_t end) {
    const unary_args *a = args;
#pragma omp simd
#pragma clang loop interleave_count(2)
    for (int64_t i = begin; i < end; i++) a->y[i] = tanh_float(a->x[i]);
}

void ck_tanh_forward(int64_t n, const float *x, float *y) {
    unary_args args = {x, y};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), tanh_forward_range,
                    &args);
}

/* ---- backward passes from the output ------------------------------------------------ */

typedef struct {
    ck_activation f;
    int accumulate;
    const float *y, *dy;
    float *dx;
} activation_backward_args;

/* dy times f' at output y, each product rounded (FP_CONTRACT OFF above). */
static inline __attribute__((always_inline)) float activation_gradient(ck_activation f,
                                                                       float y, float dy) {
    switch (f) {
    case CK_ACTIVATION_RELU: return relu_gradient(y, dy);
    case CK_ACTIVATION_SIGMOID: return dy * y * (1.0f - y);
    default: return dy * (1.0f - y * y);
    }
}

/* Elements [begin, end) with f and accumulate as constants. */
static inline __attribute__((always_inline)) void activation_backward_kind(
    ck_activation f, int accumulate, const activation_backward_args *a, int64_t begin,
    int64_t end) {
    const float *y = a->y, *dy = a->dy;
    float *dx = a->dx;
    if (accumulate) {
#pragma omp simd
        for (int64_t i = begin; i < end; i++) {
            const float gradient = activation_gradient(f, y[i], dy[i]);
            dx[i] = dx[i] + gradient;
        }
    } else {
#pragma omp simd
        for (int64_t i = begin; i < end; i++) dx[i] = activation_gradient(f, y[i], dy[i]);
    }
}

#define WITH_ACTIVATION(accumulate)                                                                \
    switch (a->f) {                                                                                \
    case CK_ACTIVATION_RELU:                                                                       \
        activation_backward_kind(CK_ACTIVATION_RELU, accumulate, a, begin, end);                   \
        break;                                                                                     \
    case CK_ACTIVATION_SIGMOID:                                                                    \
        activation_backward_kind(CK_ACTIVATION_SIGMOID, accumulate, a, begin, end);                \
        break;                                                                                     \
    default: activation_backward_kind(CK_ACTIVATION_TANH, accumulate, a, begin, end); break;       \
    }

CK_VECTORIZED static void activation_backward_range(const void *args, int64_t begin,
                                                    int64_t end) {
    const activation_backward_args *a = args;
    if (a->accumulate) {
        WITH_ACTIVATION(1)
    } else {
        WITH_ACTIVATION(0)
    }
}

#undef WITH_ACTIVATION

void ck_activation_backward(ck_activation f, int64_t n, const float *y, const float *dy,
                            int accumulate, float *dx) {
    activation_backward_args args = {f, accumulate, y, dy, dx};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS),
                    activation_backward_range, &args);
}

void ck_relu_backward(int64_t n, const float *y, const float *dy, float *dx) {
    ck_activation_backward(CK_ACTIVATION_RELU, n, y, dy, 0, dx);
}

/* ---- inverted dropout ------------------------------------------------------------------ */

/* A uniform number in [0, 1) from (seed, i): SplitMix64's finalizer on seed + (i + 1) times
 * the golden-ratio increment, top 24 bits. Depends on nothing else: thread-independent. */
static inline float dropout_uniform(uint64_t seed, int64_t i) {
    uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return (float)(z >> 40) * 0x1p-24f;
}

typedef struct {
    const float *in;
    float *out;
    float p, scale;
    uint64_t seed;
} dropout_args;

/* out[i] = in[i] * scale where element i is kept, else in[i] * 0: forward and backward alike.
 * A dropped element is multiplied by 0, as PyTorch's mask multiplies it, so that NaN and
 * infinities come out as NaN instead of being hidden. */
CK_VECTORIZED_INT64 static void dropout_range(const void *args, int64_t begin, int64_t end) {
    const dropout_args *a = args;
#pragma omp simd
    for (int64_t i = begin; i < end; i++)
        a->out[i] = a->in[i] * (dropout_uniform(a->seed, i) < a->p ? 0.0f : a->scale);
}

static void dropout(int64_t n, const float *in, float *out, float p, uint64_t seed) {
    dropout_args args = {in, out, p, 1.0f / (1.0f - p), seed};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), dropout_range, &args);
}

void ck_dropout_forward(int64_t n, const float *x, float *y, float p, uint64_t seed) {
    dropout(n, x, y, p, seed);
}

void ck_dropout_backward(int64_t n, const float *dy, float *dx, float p, uint64_t seed) {
    dropout(n, dy, dx, p, seed);
}
