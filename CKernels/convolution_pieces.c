/* A convolution's forward and backward passes over a batch taken a piece at a time
 * (ck_conv2d_pieces): each piece unfolded (ck_im2col) right before its products read it, so
 * that its columns stay in the cache of the thread that made them. The pieces run in
 * parallel, one thread each, their kernels on that thread alone (no region is nested in a
 * region: ck_get_num_threads is 1 inside one): a piece's products are too small to split
 * between threads for less than the parallel regions would cost. A batch of one piece runs
 * its kernels on all the threads instead. dW, the one sum over pieces, is summed in
 * weight_parts partial sums over consecutive pieces, added in order: the same bits whatever
 * the thread count. */
#include "ckernels.h"
#include "threading.h"

#include <stdatomic.h>
#include <string.h>

/* One unit of work (a piece, or a part of dW's pieces) on the thread that owns `slot` of the
 * buffers. */
typedef void (*slot_body)(const void *args, int64_t unit, int64_t slot);

/* Runs body over units 0..<count on up to `slots` threads, each with its own slot, the units
 * handed out one at a time: on the calling thread (slot 0) when one thread does. */
static void run_in_slots(int64_t count, int64_t slots, slot_body body, const void *args) {
    const int threads = ck_threads_for(count < slots ? count : slots, 1);
    if (threads <= 1) {
        for (int64_t unit = 0; unit < count; unit++) body(args, unit, 0);
        return;
    }
    atomic_llong next = 0;
#pragma omp parallel num_threads(threads)
    {
        const int64_t slot = omp_get_thread_num();
        for (int64_t unit; (unit = atomic_fetch_add(&next, 1)) < count;) body(args, unit, slot);
    }
}

/* The sizes of a convolution's pieces. */
typedef struct {
    const ck_conv2d_pieces *p;
    int64_t rows, pixels, plane, pieces;
} piece_sizes;

static piece_sizes sizes_of(const ck_conv2d_pieces *p) {
    const int64_t out_h = ck_conv2d_output_size(p->height, p->kernel, p->stride, p->pad);
    const int64_t out_w = ck_conv2d_output_size(p->width, p->kernel, p->stride, p->pad);
    return (piece_sizes){p, p->channels * p->kernel * p->kernel, out_h * out_w,
                         p->height * p->width,
                         (p->batch + p->images_per_piece - 1) / p->images_per_piece};
}

/* The images of piece q: first, and how many. */
static int64_t piece_images(const ck_conv2d_pieces *p, int64_t q, int64_t *first) {
    *first = q * p->images_per_piece;
    const int64_t left = p->batch - *first;
    return left < p->images_per_piece ? left : p->images_per_piece;
}

/* The floats of one slot of the columns buffers. */
static int64_t slot_floats(const piece_sizes *s) {
    return s->rows * s->p->images_per_piece * s->pixels;
}

/* im2col of `count` images of `images` from image `first` into columns. */
static void unfold(const piece_sizes *s, const float *images, int64_t first, int64_t count,
                   float *columns) {
    const ck_conv2d_pieces *p = s->p;
    ck_im2col(count, p->channels, p->height, p->width, p->kernel, p->kernel, p->stride,
              p->stride, p->pad, p->pad, images + first * p->channels * s->plane, columns);
}

/* ---- forward ----------------------------------------------------------------------------- */

typedef struct {
    piece_sizes s;
    const float *images, *weight, *bias;
    int relu;
    float *columns, *product, *y;
} forward_args;

/* Piece q: its columns, z = W · columns (out_channels x its pixels) and its images' output. */
static void forward_piece(const void *args, int64_t q, int64_t slot) {
    const forward_args *a = args;
    const ck_conv2d_pieces *p = a->s.p;
    int64_t first;
    const int64_t count = piece_images(p, q, &first), n = count * a->s.pixels;
    float *columns = a->columns + slot * slot_floats(&a->s);
    float *z = a->product + slot * p->out_channels * p->images_per_piece * a->s.pixels;
    unfold(&a->s, a->images, first, count, columns);
    ck_sgemm(0, 0, p->out_channels, n, a->s.rows, 1.0f, a->weight, a->s.rows, columns, n, 0.0f,
             z, n);
    ck_conv2d_output(count, p->out_channels, a->s.pixels, z, a->bias, a->relu,
                     a->y + first * p->out_channels * a->s.pixels);
}

void ck_conv2d_forward(const ck_conv2d_pieces *p, const float *images, const float *weight,
                       const float *bias, int relu, float *columns, float *product, float *y) {
    const forward_args args = {sizes_of(p), images, weight, bias, relu, columns, product, y};
    run_in_slots(args.s.pieces, p->slots, forward_piece, &args);
}

/* ---- backward ---------------------------------------------------------------------------- */

typedef struct {
    piece_sizes s;
    int64_t parts;
    const float *images, *dz, *weight;
    float *dw, dw_beta, *dw_parts, *dx, *columns, *column_gradient;
} backward_args;

/* Part r of the pieces, in order: dW's partial sum r (dW itself for r = 0, with dw_beta)
 * and each piece's dX. */
static void backward_part(const void *args, int64_t r, int64_t slot) {
    const backward_args *a = args;
    const ck_conv2d_pieces *p = a->s.p;
    const int64_t rows = a->s.rows, length = p->batch * a->s.pixels;
    float *columns = a->columns + slot * slot_floats(&a->s);
    float *dw = r == 0 ? a->dw : a->dw_parts + (r - 1) * p->out_channels * rows;
    const int64_t begin = a->s.pieces * r / a->parts, end = a->s.pieces * (r + 1) / a->parts;
    for (int64_t q = begin; q < end; q++) {
        int64_t first;
        const int64_t count = piece_images(p, q, &first), n = count * a->s.pixels;
        const float *dz = a->dz + first * a->s.pixels; /* dz[:, piece], rows length apart */
        if (a->dw) {
            if (a->images) unfold(&a->s, a->images, first, count, columns);
            /* dW (+)= dz[:, piece] (out_channels x n) · columnsᵀ (n x rows). */
            const float beta = q > begin ? 1.0f : r == 0 ? a->dw_beta : 0.0f;
            ck_sgemm(0, 1, p->out_channels, rows, n, 1.0f, dz, length, columns, n, beta, dw,
                     rows);
        }
        if (a->dx) {
            /* dcolumns (rows x n) = Wᵀ (rows x out_channels) · dz[:, piece]. */
            float *column_gradient = a->column_gradient + slot * slot_floats(&a->s);
            ck_sgemm(1, 0, rows, n, p->out_channels, 1.0f, a->weight, rows, dz, length, 0.0f,
                     column_gradient, n);
            ck_col2im(count, p->channels, p->height, p->width, p->kernel, p->kernel,
                      p->stride, p->stride, p->pad, p->pad, column_gradient,
                      a->dx + first * p->channels * a->s.plane);
        }
    }
}

void ck_conv2d_backward(const ck_conv2d_pieces *p, const float *images, const float *dz,
                        const float *weight, float *dw, float beta, float *dw_parts,
                        float *dx, float *columns, float *column_gradient) {
    const piece_sizes s = sizes_of(p);
    const int64_t weights = p->out_channels * s.rows;
    if (dw && beta == 0.0f && s.pieces == 0)
        memset(dw, 0, (size_t)weights * sizeof(float)); /* the sum of no products */
    const int64_t parts = p->weight_parts < s.pieces ? p->weight_parts : s.pieces;
    const backward_args args = {s, parts, images, dz, weight, dw, beta, dw_parts, dx,
                                columns, column_gradient};
    run_in_slots(parts, p->slots, backward_part, &args);
    for (int64_t r = 1; dw && r < parts; r++) {
        const float *part = dw_parts + (r - 1) * weights;
        for (int64_t i = 0; i < weights; i++) dw[i] += part[i];
    }
}
