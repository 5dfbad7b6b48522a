/* Max and average pooling over the planes of an NCHW tensor, forward and backward. A window
 * is clipped to the input (padding, and PyTorch's ceil_mode, make partial windows at the
 * edges), so one loop handles full and partial windows alike; the forward passes take a row's
 * whole windows several at a time, in vectors, and leave that loop the clipped ones and the
 * rows of fewer than 4 whole windows. Planes are independent: each kernel splits the
 * batch x channels planes between threads, and a plane's overlapping windows are summed on
 * one thread in a fixed order. */
#include "ckernels.h"
#include "threading.h"

#include <string.h>

typedef struct {
    int64_t height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w;
    int count_pad; /* average pooling: whether a window's padding counts in its size */
    const float *x, *dy;
    float *y, *dx;
    int64_t *argmax;
} pool_args;

static pool_args make_args(int64_t height, int64_t width, int64_t kernel_h, int64_t kernel_w,
                           int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                           int64_t out_h, int64_t out_w) {
    pool_args a = {height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                   out_h, out_w, 0, NULL, NULL, NULL, NULL, NULL};
    return a;
}

/* Window o along a dimension of `size` padded by `pad` on each side: it starts at
 * o * stride - pad (in the padding before the dimension when negative) and covers [start, end)
 * of the dimension; average pooling counts `counted` of its positions, with count_pad those
 * inside the padded dimension [-pad, size + pad), else end - start. */
typedef struct {
    int64_t start, end, counted;
} pool_span;

static inline pool_span span(int64_t o, int64_t kernel, int64_t stride, int64_t pad,
                             int64_t size, int count_pad) {
    const int64_t first = o * stride - pad, last = first + kernel;
    pool_span s;
    /* Written so that a constant pad of 0 (with_constant_padding) leaves no clamp of the start
     * and no padding to count. */
    s.start = pad > 0 && first < 0 ? 0 : first;
    s.end = last < size ? last : size;
    s.counted = pad > 0 && count_pad ? (last < size + pad ? last : size + pad) - first
                                     : s.end - s.start;
    return s;
}

/* The rows of window row oy, and the columns of window column ox. */
static inline pool_span rows(const pool_args *a, int64_t oy) {
    return span(oy, a->kernel_h, a->stride_h, a->pad_h, a->height, a->count_pad);
}

static inline pool_span columns(const pool_args *a, int64_t ox) {
    return span(ox, a->kernel_w, a->stride_w, a->pad_w, a->width, a->count_pad);
}

/* A kernel's loops over the planes [begin, end) of a, inlined where they are called. */
typedef void (*pool_body)(const pool_args *a, int64_t begin, int64_t end);

/* body over the planes [begin, end) of args; where there is no padding, on a copy whose
 * padding is the constant 0, so that body's loops compile there as if padding did not exist. */
static inline __attribute__((always_inline)) void
with_constant_padding(const void *args, int64_t begin, int64_t end, pool_body body) {
    const pool_args *a = args;
    if (a->pad_h == 0 && a->pad_w == 0) {
        pool_args unpadded = *a;
        unpadded.pad_h = 0;
        unpadded.pad_w = 0;
        body(&unpadded, begin, end);
    } else {
        body(a, begin, end);
    }
}

/* Runs body over the planes when the planes' elements pay for a parallel region. */
static void run_planes(int64_t planes, const pool_args *a, ck_range_body body) {
    int64_t elements = a->height * a->width > a->out_h * a->out_w ? a->height * a->width
                                                                    : a->out_h * a->out_w;
    ck_parallel_for(planes, 1, ck_threads_for(planes * elements, CK_PARALLEL_MIN_ELEMENTS),
                    body, a);
}

/* ---- the forward passes' whole windows, in groups -------------------------------------- */

/* The windows of an output row that lie wholly inside the plane's columns: outputs
 * [*first, *end) (the first ones may start in the padding, and ceil_mode's last one may be
 * clipped); *end <= *first when there are none. */
static inline void whole_windows_range(const pool_args *a, int64_t *first, int64_t *end) {
    if (a->stride_w < 1) {
        *first = *end = 0;
        return;
    }
    /* The first output whose window starts at column 0 or after, and the outputs whose
     * windows end at the width or before: ox * stride - pad + kernel <= width. */
    *first = a->pad_w / a->stride_w + (a->pad_w % a->stride_w != 0);
    const int64_t span = a->width - (a->kernel_w - a->pad_w); /* kernel > pad: no overflow */
    *end = span < 0 ? 0 : span / a->stride_w + 1;
    if (*end > a->out_w) *end = a->out_w;
}

/* Whether v replaces the maximum so far, best: the first maximum, and the first NaN wins and
 * stays (PyTorch's max_pool2d takes the last NaN instead). */
static inline int takes_max(float v, float best) { return v > best || (v != v && best == best); }

/* The poolings whose forward pass takes a row's whole windows in groups (pool_windows). */
typedef enum { POOL_MAX, POOL_AVG } pool_kind;

/* The `count` outputs of one output row, whole windows of `rows` rows of the plane x: y[i]
 * (and argmax[i]) of the window whose first element is x[corner + i * stride]. POOL_MAX: y[i]
 * the maximum and argmax[i] its index in the plane; POOL_AVG: y[i] the mean, the sum in
 * double from +0 divided by `divisor` (the window's size) and rounded to float once (argmax
 * unused).
 * Each window's elements are taken in the order the clipped windows' loops take them (rows,
 * then columns), so the results are the same bits. count is a constant at each call
 * (WINDOWS_AT_ONCE or half of it), and so is kind: the maxima or sums so far are a vector of
 * registers across the windows, and the loads of a stride of 2 (2 x 2 or 3 x 3 pooling) are
 * contiguous vectors deinterleaved. */
enum { WINDOWS_AT_ONCE = 8 };
static inline __attribute__((always_inline)) void
pool_windows(const pool_kind kind, const float *restrict x, int64_t corner, int64_t width,
             int64_t kernel_w, int64_t stride, int64_t rows, const int count, double divisor,
             float *restrict y, int64_t *restrict argmax) {
    const float *restrict window_x = x + corner;
    float value[WINDOWS_AT_ONCE];
    double sum[WINDOWS_AT_ONCE];
    int64_t at[WINDOWS_AT_ONCE];
    for (int i = 0; i < count; i++) {
        at[i] = i * stride;
        value[i] = kind == POOL_MAX ? window_x[at[i]] : 0.0f;
        sum[i] = 0.0;
    }
    for (int64_t ky = 0; ky < rows; ky++)
        for (int64_t kx = kind == POOL_MAX && ky == 0 ? 1 : 0; kx < kernel_w; kx++) {
            const int64_t first = ky * width + kx;
            for (int i = 0; i < count; i++) {
                const float v = window_x[first + i * stride];
                if (kind == POOL_MAX) {
                    const int take = takes_max(v, value[i]);
                    value[i] = take ? v : value[i];
                    at[i] = take ? first + i * stride : at[i];
                } else {
                    sum[i] += (double)v;
                }
            }
        }
    for (int i = 0; i < count; i++) {
        if (kind == POOL_MAX) {
            y[i] = value[i];
            argmax[i] = corner + at[i];
        } else {
            y[i] = (float)(sum[i] / divisor);
        }
    }
}

/* Outputs [first, end) of one output row, all whole windows starting at column
 * first * stride - pad, WINDOWS_AT_ONCE at a time, or half as many in a shorter row (7
 * windows of a 14 x 14 plane, 4 of an 8 x 8 one); the last group ends at end, overlapping the
 * one before (its windows computed again, to the same values). Returns the first output not
 * computed: end, or first in a row shorter than half a group. */
static inline __attribute__((always_inline)) int64_t
whole_windows(const pool_kind kind, const float *restrict x, int64_t width, int64_t kernel_w,
              int64_t stride, int64_t pad, int64_t y0, int64_t y1, int64_t first, int64_t end,
              double divisor, float *restrict y, int64_t *restrict argmax) {
    enum { HALF = WINDOWS_AT_ONCE / 2 };
    const int group = end - first >= WINDOWS_AT_ONCE ? WINDOWS_AT_ONCE
                      : end - first >= HALF          ? HALF
                                                     : 0;
    if (group == WINDOWS_AT_ONCE) {
        for (int64_t ox = first; ox < end; ox += WINDOWS_AT_ONCE) {
            const int64_t o = ox + WINDOWS_AT_ONCE <= end ? ox : end - WINDOWS_AT_ONCE;
            pool_windows(kind, x, y0 * width + o * stride - pad, width, kernel_w, stride,
                         y1 - y0, WINDOWS_AT_ONCE, divisor, y + o,
                         kind == POOL_MAX ? argmax + o : NULL);
        }
    } else if (group == HALF) {
        for (int64_t ox = first; ox < end; ox += HALF) {
            const int64_t o = ox + HALF <= end ? ox : end - HALF;
            pool_windows(kind, x, y0 * width + o * stride - pad, width, kernel_w, stride,
                         y1 - y0, HALF, divisor, y + o, kind == POOL_MAX ? argmax + o : NULL);
        }
    } else {
        return first;
    }
    return end;
}

/* whole_windows of output row oy of a plane, the stride a constant where it is 2. */
static inline __attribute__((always_inline)) int64_t
row_whole_windows(const pool_kind kind, const pool_args *a, const float *x, pool_span r,
                  int64_t first, int64_t end, float *y, int64_t *argmax) {
    const double divisor = kind == POOL_AVG ? (double)(r.counted * a->kernel_w) : 1.0;
    return a->stride_w == 2
               ? whole_windows(kind, x, a->width, a->kernel_w, 2, a->pad_w, r.start, r.end,
                               first, end, divisor, y, argmax)
               : whole_windows(kind, x, a->width, a->kernel_w, a->stride_w, a->pad_w, r.start,
                               r.end, first, end, divisor, y, argmax);
}

/* ---- max pooling ----------------------------------------------------------------------- */

/* Output ox of a row of windows of rows r of a plane, any window, clipped: y[ox] and
 * argmax[ox]. */
static inline void max_window(const pool_args *a, const float *x, pool_span r, int64_t ox,
                              float *y, int64_t *argmax) {
    const pool_span c = columns(a, ox);
    int64_t best = r.start * a->width + c.start;
    float best_value = x[best];
    for (int64_t iy = r.start; iy < r.end; iy++)
        for (int64_t ix = c.start; ix < c.end; ix++)
            if (takes_max(x[iy * a->width + ix], best_value)) {
                best = iy * a->width + ix;
                best_value = x[best];
            }
    y[ox] = best_value;
    argmax[ox] = best;
}

static inline __attribute__((always_inline)) void
max_forward(const pool_args *a, int64_t begin, int64_t end) {
    const int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    int64_t first, whole_end;
    whole_windows_range(a, &first, &whole_end);
    for (int64_t p = begin; p < end; p++) {
        const float *x = a->x + p * in_size;
        for (int64_t oy = 0; oy < a->out_h; oy++) {
            float *y = a->y + p * out_size + oy * a->out_w;
            int64_t *argmax = a->argmax + p * out_size + oy * a->out_w;
            const pool_span r = rows(a, oy);
            const int64_t done = row_whole_windows(POOL_MAX, a, x, r, first, whole_end, y, argmax);
            for (int64_t ox = 0; ox < first && ox < a->out_w; ox++)
                max_window(a, x, r, ox, y, argmax);
            for (int64_t ox = done; ox < a->out_w; ox++) max_window(a, x, r, ox, y, argmax);
        }
    }
}

CK_VECTORIZED static void max_forward_planes(const void *args, int64_t begin, int64_t end) {
    with_constant_padding(args, begin, end, max_forward);
}

void ck_max_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                           int64_t pad_w, int64_t out_h, int64_t out_w, const float *x,
                           float *y, int64_t *argmax) {
    if (out_h == 0 || out_w == 0) return; /* no windows (the pointers may be NULL) */
    pool_args a = make_args(height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                            out_h, out_w);
    a.x = x;
    a.y = y;
    a.argmax = argmax;
    run_planes(planes, &a, max_forward_planes);
}

static void max_backward_planes(const void *args, int64_t begin, int64_t end) {
    const pool_args *a = args;
    int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    for (int64_t p = begin; p < end; p++) {
        float *dx = a->dx + p * in_size;
        memset(dx, 0, (size_t)in_size * sizeof(float));
        /* Indexed from the start of dy and argmax, which may be NULL when there are no
         * windows. */
        for (int64_t o = p * out_size; o < (p + 1) * out_size; o++) dx[a->argmax[o]] += a->dy[o];
    }
}

void ck_max_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t out_h,
                            int64_t out_w, const int64_t *argmax, const float *dy, float *dx) {
    if (height == 0 || width == 0) return; /* dx has no elements (the pointers may be NULL) */
    pool_args a = make_args(height, width, 0, 0, 0, 0, 0, 0, out_h, out_w);
    a.argmax = (int64_t *)argmax; /* read only */
    a.dy = dy;
    a.dx = dx;
    run_planes(planes, &a, max_backward_planes);
}

/* ---- average pooling ------------------------------------------------------------------- */

/* Output ox of a row of windows of rows r of a plane, any window, clipped: y[ox]. */
static inline void avg_window(const pool_args *a, const float *x, pool_span r, int64_t ox,
                              float *y) {
    const pool_span c = columns(a, ox);
    double sum = 0.0;
    for (int64_t iy = r.start; iy < r.end; iy++)
        for (int64_t ix = c.start; ix < c.end; ix++) sum += (double)x[iy * a->width + ix];
    y[ox] = (float)(sum / (double)(r.counted * c.counted));
}

static inline __attribute__((always_inline)) void
avg_forward(const pool_args *a, int64_t begin, int64_t end) {
    const int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    int64_t first, whole_end;
    whole_windows_range(a, &first, &whole_end);
    for (int64_t p = begin; p < end; p++) {
        const float *x = a->x + p * in_size;
        for (int64_t oy = 0; oy < a->out_h; oy++) {
            float *y = a->y + p * out_size + oy * a->out_w;
            const pool_span r = rows(a, oy);
            const int64_t done = row_whole_windows(POOL_AVG, a, x, r, first, whole_end, y, NULL);
            for (int64_t ox = 0; ox < first && ox < a->out_w; ox++) avg_window(a, x, r, ox, y);
            for (int64_t ox = done; ox < a->out_w; ox++) avg_window(a, x, r, ox, y);
        }
    }
}

CK_VECTORIZED static void avg_forward_planes(const void *args, int64_t begin, int64_t end) {
    with_constant_padding(args, begin, end, avg_forward);
}

void ck_avg_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                           int64_t pad_w, int count_pad, int64_t out_h, int64_t out_w,
                           const float *x, float *y) {
    if (out_h == 0 || out_w == 0) return; /* no windows (the pointers may be NULL) */
    pool_args a = make_args(height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                            out_h, out_w);
    a.count_pad = count_pad;
    a.x = x;
    a.y = y;
    run_planes(planes, &a, avg_forward_planes);
}

static inline __attribute__((always_inline)) void
avg_backward(const pool_args *a, int64_t begin, int64_t end) {
    int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    for (int64_t p = begin; p < end; p++) {
        float *dx = a->dx + p * in_size;
        memset(dx, 0, (size_t)in_size * sizeof(float));
        /* Indexed from the start of dy, which may be NULL when there are no windows. */
        for (int64_t oy = 0, o = p * out_size; oy < a->out_h; oy++) {
            const pool_span r = rows(a, oy);
            for (int64_t ox = 0; ox < a->out_w; ox++, o++) {
                const pool_span c = columns(a, ox);
                float share = a->dy[o] / (float)(r.counted * c.counted);
                for (int64_t iy = r.start; iy < r.end; iy++)
                    for (int64_t ix = c.start; ix < c.end; ix++) dx[iy * a->width + ix] += share;
            }
        }
    }
}

static void avg_backward_planes(const void *args, int64_t begin, int64_t end) {
    with_constant_padding(args, begin, end, avg_backward);
}

void ck_avg_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                            int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                            int64_t pad_w, int count_pad, int64_t out_h, int64_t out_w,
                            const float *dy, float *dx) {
    if (height == 0 || width == 0) return; /* dx has no elements (the pointers may be NULL) */
    pool_args a = make_args(height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                            out_h, out_w);
    a.count_pad = count_pad;
    a.dy = dy;
    a.dx = dx;
    run_planes(planes, &a, avg_backward_planes);
}

int64_t ck_pool2d_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad,
                              int ceil_mode) {
    if (kernel < 1 || stride < 1 || size < 1 || pad < 0 || pad > kernel / 2) return 0;
    /* size + 2 * pad - kernel, without the sum that could overflow: kernel - 2 * pad is in
     * [0, kernel], and size in [1, INT64_MAX]. */
    const int64_t span = size - (kernel - 2 * pad);
    if (!ceil_mode) return span < 0 ? 0 : span / stride + 1;
    /* PyTorch's floor((span + stride - 1) / stride) + 1, without the sum that could overflow:
     * for span < 0 it is 1 when span > -stride (one window, clipped to the input), else 0. */
    if (span < 0) return span > -stride ? 1 : 0;
    int64_t count = span / stride + (span % stride != 0) + 1;
    /* PyTorch: the last window must start before the padding after the input,
     * (count - 1) * stride - pad < size, that is count - 1 <= (size + pad - 1) / stride; in
     * unsigned arithmetic, where size - 1 + pad cannot overflow. */
    if ((uint64_t)(count - 1) > ((uint64_t)(size - 1) + (uint64_t)pad) / (uint64_t)stride)
        count--;
    return count;
}
