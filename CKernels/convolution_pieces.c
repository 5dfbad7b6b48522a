/* A convolution's forward and backward passes over a batch taken a piece at a time
 * (ck_conv2d_pieces): each piece unfolded (ck_im2col) right before its products read it, so
 * that its columns stay in the cache of the thread that made them. The pieces run in
 * parallel, one thread each, their kernels on that thread alone (no region is nested in a
 * region: ck_get_num_threads is 1 inside one): a piece's products are too small to split
 * between threads for less than the parallel regions would cost. A batch of one piece runs
 * its kernels on all the threads instead. dW, the one sum over pieces, is summed in
 * weight_parts partial sums over consecutive pieces, added in order: the same bits whatever
 * the thread count. A batch with enough channels whose windows are not flat (strided, or
 * narrowed or widened by the padding) goes by rows (ck_im2row, ck_row2im), forward and
 * backward, and so does the backward pass of a batch of several pieces with enough channels:
 * its products then read and write the unfolded pieces as stored. A batch of several pieces
 * with 3x3 windows at stride 1 and padding 1 on planes of at least 2 x 2 pixels takes the
 * forward pass and dX in the Winograd form instead (convolution_winograd.c), and on planes
 * of at least 3 x 3 pixels dW too, its weights
 * transformed once a call on the calling thread, each piece's tiles on the piece's thread,
 * dW's partial sums kept transformed until they are added. A batch with all three in the
 * Winograd form has no columns buffers (on planes 2 pixels high or wide, dW by rows keeps
 * its columns): a piece whose transformed products are not finite takes the products, and
 * dW whose transformed sums are not finite is taken again by rows, both through per-thread
 * scratch. */
#include "ckernels.h"
#include "convolution_winograd.h"
#include "scratch.h"
#include "threading.h"
#include "transpose_block.h"

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

/* Per thread, for the pieces of a batch in the Winograd form that take the products: their
 * columns (or rows, or the gradient of either), z, and W with its columns in the rows' order.
 * Grown only when a piece takes the products. */
static _Thread_local ck_scratch fallback_columns, fallback_product, fallback_weights;

/* The slot's part of a columns buffer (slot_floats a slot), or when there is none (NULL), the
 * calling thread's fallback_columns. */
static float *slot_columns(const piece_sizes *s, float *buffer, int64_t slot) {
    const int64_t floats = slot_floats(s);
    return buffer ? buffer + slot * floats : ck_scratch_get(&fallback_columns, (size_t)floats);
}

/* im2col of `count` images of `images` from image `first` into columns. */
static void unfold(const piece_sizes *s, const float *images, int64_t first, int64_t count,
                   float *columns) {
    const ck_conv2d_pieces *p = s->p;
    ck_im2col(count, p->channels, p->height, p->width, p->kernel, p->kernel, p->stride,
              p->stride, p->pad, p->pad, images + first * p->channels * s->plane, columns);
}

/* ---- by rows ----------------------------------------------------------------------------- */

/* Whether a convolution's windows are flat, as ck_im2col's fast copies take them: stride 1 and
 * output rows as wide as the plane's (padding that keeps the width). Others, strided, or
 * narrowed or widened by the padding, ck_im2col and ck_col2im take a run of an output row at
 * a time, a few pixels, where ck_im2row and ck_row2im move a pixel's channels side by side. */
static int flat_windows(const ck_conv2d_pieces *p) {
    return p->stride == 1 && ck_conv2d_output_size(p->width, p->kernel, 1, p->pad) == p->width;
}

/* Whether the forward pass takes a convolution's pieces as rows (ck_im2row, channels last):
 * a batch of images whose pixels' channels fill a vector, with windows that are not flat. */
static int forward_by_rows(const piece_sizes *s) {
    return s->pieces >= 1 && s->p->channels >= 16 && !flat_windows(s->p);
}

/* Whether the backward pass takes them as rows: a batch that forward_by_rows names (a batch of
 * one piece keeps the rows that forward made), or of several pieces (its images given, each
 * piece unfolded again) whose pixels' channels fill a vector. */
static int backward_by_rows(const piece_sizes *s) {
    return forward_by_rows(s) || (s->pieces > 1 && s->p->channels >= 16);
}

int ck_conv2d_backward_by_rows(const ck_conv2d_pieces *p) {
    const piece_sizes s = sizes_of(p);
    return backward_by_rows(&s);
}

/* Weights between the OIHW order, o * rows + c * window + k, and the rows' order (ck_im2row),
 * o * rows + k * channels + c, for output channel o, window offset k and channel c: W into
 * the rows' order (`to` written), or dW's sum in the rows' order into dW, to = beta * to
 * (not read when beta is 0) + from. */
typedef enum { TO_ROWS_ORDER, ADD_TO_OIHW } weights_move;

static void move_weights(const ck_conv2d_pieces *p, weights_move move, float beta,
                         const float *from, float *to) {
    const int64_t window = p->kernel * p->kernel, rows = p->channels * window;
    for (int64_t o = 0; o < p->out_channels; o++)
        for (int64_t k = 0; k < window; k++)
            for (int64_t c = 0; c < p->channels; c++) {
                const int64_t in_rows = o * rows + k * p->channels + c;
                const int64_t oihw = o * rows + c * window + k;
                if (move == TO_ROWS_ORDER) {
                    to[in_rows] = from[oihw];
                } else {
                    const float scaled = beta == 0.0f ? 0.0f : beta * to[oihw];
                    to[oihw] = beta == 0.0f ? from[in_rows] : scaled + from[in_rows];
                }
            }
}

/* The calling thread's W in the rows' order for a batch forward by rows, which the threads of
 * its pieces read. */
static _Thread_local ck_scratch forward_rows_weight;

/* ---- forward ----------------------------------------------------------------------------- */

typedef struct {
    piece_sizes s;
    const float *images, *weight, *bias;
    int relu;
    float *columns, *product, *y; /* columns and product NULL in the Winograd form */
    const float *winograd_weights; /* U, in the Winograd form; else NULL */
    const float *rows_weight; /* by rows (forward_by_rows), W in the rows' order; else NULL */
} forward_args;

/* The Winograd form's convolution of a batch forward (x by W), or backward (dz by W flipped,
 * for dX). */
static ck_winograd_shape winograd_shape(const piece_sizes *s, int backward) {
    const ck_conv2d_pieces *p = s->p;
    return backward ? (ck_winograd_shape){p->out_channels, p->channels, p->height, p->width,
                                          s->plane, p->batch * s->plane}
                    : (ck_winograd_shape){p->channels, p->out_channels, p->height, p->width,
                                          p->channels * s->plane, s->plane};
}

/* The calling thread's U (ck_winograd_weights) of a batch forward or backward, which the
 * threads of its pieces read. */
static _Thread_local ck_scratch winograd_weights;

static const float *transformed_weights(const piece_sizes *s, const float *weight, int backward) {
    const ck_winograd_shape shape = winograd_shape(s, backward);
    float *u = ck_scratch_get(&winograd_weights, (size_t)ck_winograd_weight_floats(&shape));
    ck_winograd_weights(&shape, weight, backward, u);
    return u;
}

/* Piece q: its output in the Winograd form when the batch takes it and the piece's transformed
 * products are finite; else its columns, z = W · columns (out_channels x its pixels), or by
 * rows its rows and z = W · rowsᵀ (W in the rows' order), and its images' output. */
static void forward_piece(const void *args, int64_t q, int64_t slot) {
    const forward_args *a = args;
    const ck_conv2d_pieces *p = a->s.p;
    int64_t first;
    const int64_t count = piece_images(p, q, &first), n = count * a->s.pixels;
    if (a->winograd_weights) {
        const ck_winograd_shape shape = winograd_shape(&a->s, 0);
        if (ck_winograd_images(&shape, a->winograd_weights,
                               a->images + first * p->channels * a->s.plane, count, a->bias,
                               a->relu, 0, a->y + first * p->out_channels * a->s.pixels))
            return;
    }
    const int64_t product_floats = p->out_channels * p->images_per_piece * a->s.pixels;
    float *columns = slot_columns(&a->s, a->columns, slot);
    float *z = a->product ? a->product + slot * product_floats
                          : ck_scratch_get(&fallback_product, (size_t)product_floats);
    if (a->rows_weight) {
        ck_im2row(count, p->channels, p->height, p->width, p->kernel, p->kernel, p->stride,
                  p->stride, p->pad, p->pad, a->images + first * p->channels * a->s.plane,
                  columns);
        ck_sgemm(0, 1, p->out_channels, n, a->s.rows, 1.0f, a->rows_weight, a->s.rows, columns,
                 a->s.rows, 0.0f, z, n);
    } else {
        unfold(&a->s, a->images, first, count, columns);
        ck_sgemm(0, 0, p->out_channels, n, a->s.rows, 1.0f, a->weight, a->s.rows, columns, n,
                 0.0f, z, n);
    }
    ck_conv2d_output(count, p->out_channels, a->s.pixels, z, a->bias, a->relu,
                     a->y + first * p->out_channels * a->s.pixels);
}

void ck_conv2d_forward(const ck_conv2d_pieces *p, const float *images, const float *weight,
                       const float *bias, int relu, float *columns, float *product, float *y) {
    const piece_sizes s = sizes_of(p);
    const float *u = ck_conv2d_winograd(p) ? transformed_weights(&s, weight, 0) : NULL;
    float *rows_weight = NULL;
    if (forward_by_rows(&s)) {
        rows_weight = ck_scratch_get(&forward_rows_weight, (size_t)(p->out_channels * s.rows));
        move_weights(p, TO_ROWS_ORDER, 0.0f, weight, rows_weight);
    }
    const forward_args args = {s, images, weight, bias, relu, u ? NULL : columns,
                               u ? NULL : product, y, u, rows_weight};
    run_in_slots(args.s.pieces, p->slots, forward_piece, &args);
}

/* ---- backward ---------------------------------------------------------------------------- */


/* How dW is summed: by columns (ck_im2col), by rows (ck_im2row), or in the Winograd form. */
typedef enum { DW_BY_COLUMNS, DW_BY_ROWS, DW_WINOGRAD } weight_form;

static weight_form weight_form_of(const piece_sizes *s) {
    return ck_conv2d_winograd_weight_gradient(s->p) ? DW_WINOGRAD
         : backward_by_rows(s)                       ? DW_BY_ROWS
                                                     : DW_BY_COLUMNS;
}

typedef struct {
    piece_sizes s;
    int64_t parts;
    int dx_accumulate; /* dX by rows added to */
    weight_form dw_form;
    const float *images, *dz;
    /* W (OIHW), and by rows outside the Winograd form, W with its columns in the rows' order
     * (else NULL). */
    const float *weight, *rows_weight;
    /* columns NULL when dW is in the Winograd form, column_gradient when dX is. */
    float *dw, dw_beta, *dw_parts, *dx, *columns, *column_gradient;
    const float *winograd_weights; /* U of dX in the Winograd form; else NULL */
} backward_args;

/* The floats of one of dW's partial sums in `form`: dW's, or in the Winograd form, its
 * transformed sums M (ck_winograd_weight_products), 16 / 9 as many. */
static int64_t weight_part_floats(const piece_sizes *s, weight_form form) {
    if (form != DW_WINOGRAD) return s->p->out_channels * s->rows;
    const ck_winograd_shape shape = winograd_shape(s, 0);
    return ck_winograd_weight_floats(&shape);
}

/* Piece q's dX = col2im(Wᵀ · dz[:, piece]) (a->weight OIHW), through a column gradient. */
static void columns_input_gradient(const backward_args *a, int64_t first, int64_t count,
                                   float *column_gradient) {
    const ck_conv2d_pieces *p = a->s.p;
    const int64_t rows = a->s.rows, n = count * a->s.pixels, length = p->batch * a->s.pixels;
    /* dcolumns (rows x n) = Wᵀ (rows x out_channels) · dz[:, piece]. */
    ck_sgemm(1, 0, rows, n, p->out_channels, 1.0f, a->weight, rows, a->dz + first * a->s.pixels,
             length, 0.0f, column_gradient, n);
    ck_col2im(count, p->channels, p->height, p->width, p->kernel, p->kernel, p->stride,
              p->stride, p->pad, p->pad, column_gradient,
              a->dx + first * p->channels * a->s.plane);
}

/* dz[:, piece]ᵀ, per thread. */
static _Thread_local ck_scratch piece_gradient_transposed;

/* Piece q's dX = row2im(dz[:, piece]ᵀ · W) (W with its columns in the rows' order:
 * a->rows_weight, or in the Winograd form, reordered into the thread's fallback_weights),
 * through a row gradient. dz[:, piece] is transposed first, so that the product reads both
 * operands as stored: the GEMM then takes it in the broadcast form where its table allows a
 * product of this size (broadcast_max_work), W read in place and nothing packed, where with A
 * transposed it would take a packed route, which copies A into panels all the same, and W
 * too. */
static void rows_input_gradient(const backward_args *a, int64_t first, int64_t count,
                                float *row_gradient) {
    const ck_conv2d_pieces *p = a->s.p;
    const int64_t rows = a->s.rows, n = count * a->s.pixels, length = p->batch * a->s.pixels;
    const float *w = a->rows_weight;
    if (!w) {
        float *reordered = ck_scratch_get(&fallback_weights, (size_t)(p->out_channels * rows));
        move_weights(p, TO_ROWS_ORDER, 0.0f, a->weight, reordered);
        w = reordered;
    }
    float *dz_t = ck_scratch_get(&piece_gradient_transposed, (size_t)(n * p->out_channels));
    ck_transpose_block(p->out_channels, n, a->dz + first * a->s.pixels, length, dz_t,
                       p->out_channels);
    /* drows (n x rows) = dz[:, piece]ᵀ (n x out_channels) · W (out_channels x rows). */
    ck_sgemm(0, 0, n, rows, p->out_channels, 1.0f, dz_t, p->out_channels, w, rows, 0.0f,
             row_gradient, rows);
    ck_row2im(count, p->channels, p->height, p->width, p->kernel, p->kernel, p->stride,
              p->stride, p->pad, p->pad, row_gradient, a->dx_accumulate,
              a->dx + first * p->channels * a->s.plane);
}

/* Part r of the pieces, in order: dW's partial sum r and each piece's dX. By columns, partial
 * sum r is dW itself for r = 0 (with dw_beta), else dw_parts[r - 1]; by rows, dw_parts[r]; in
 * the Winograd form, the transformed sums M (ck_winograd_weight_products) at dw_parts[r]. */
static void backward_part(const void *args, int64_t r, int64_t slot) {
    const backward_args *a = args;
    const ck_conv2d_pieces *p = a->s.p;
    const int64_t rows = a->s.rows, length = p->batch * a->s.pixels;
    const weight_form form = a->dw_form;
    const int64_t part_floats = weight_part_floats(&a->s, form);
    float *dw = form != DW_BY_COLUMNS ? a->dw_parts + r * part_floats
              : r == 0                ? a->dw
                                      : a->dw_parts + (r - 1) * part_floats;
    const int64_t begin = a->s.pieces * r / a->parts, end = a->s.pieces * (r + 1) / a->parts;
    for (int64_t q = begin; q < end; q++) {
        int64_t first;
        const int64_t count = piece_images(p, q, &first), n = count * a->s.pixels;
        const float *dz = a->dz + first * a->s.pixels; /* dz[:, piece], rows length apart */
        if (a->dw) {
            const int from_dw = r == 0 && form == DW_BY_COLUMNS;
            const float beta = q > begin ? 1.0f : from_dw ? a->dw_beta : 0.0f;
            if (form == DW_WINOGRAD) {
                const ck_winograd_shape shape = winograd_shape(&a->s, 0);
                ck_winograd_weight_products(&shape, a->images + first * p->channels * a->s.plane,
                                            dz, a->s.pixels, length, count, beta, dw);
            } else if (form == DW_BY_ROWS) {
                /* dW (+)= dz[:, piece] (out_channels x n) · its rows (n x rows). */
                float *piece_rows = slot_columns(&a->s, a->columns, slot);
                if (a->images)
                    ck_im2row(count, p->channels, p->height, p->width, p->kernel, p->kernel,
                              p->stride, p->stride, p->pad, p->pad,
                              a->images + first * p->channels * a->s.plane, piece_rows);
                ck_sgemm(0, 0, p->out_channels, rows, n, 1.0f, dz, length, piece_rows, rows,
                         beta, dw, rows);
            } else {
                float *columns = slot_columns(&a->s, a->columns, slot);
                if (a->images) unfold(&a->s, a->images, first, count, columns);
                /* dW (+)= dz[:, piece] (out_channels x n) · columnsᵀ (n x rows). */
                ck_sgemm(0, 1, p->out_channels, rows, n, 1.0f, dz, length, columns, n, beta,
                         dw, rows);
            }
        }
        if (!a->dx) continue;
        if (a->winograd_weights) { /* finite transformed products: done */
            const ck_winograd_shape shape = winograd_shape(&a->s, 1);
            if (ck_winograd_images(&shape, a->winograd_weights, dz, count, NULL, 0,
                                   a->dx_accumulate, a->dx + first * p->channels * a->s.plane))
                continue;
        }
        /* The slot's column (or row) gradient. */
        float *gradient = slot_columns(&a->s, a->column_gradient, slot);
        if (backward_by_rows(&a->s)) {
            rows_input_gradient(a, first, count, gradient);
        } else {
            columns_input_gradient(a, first, count, gradient);
        }
    }
}

int64_t ck_conv2d_backward_scratch(const ck_conv2d_pieces *p, int weight_gradient,
                                   int input_gradient) {
    const piece_sizes s = sizes_of(p);
    const weight_form form = weight_form_of(&s);
    const int64_t weights = p->out_channels * s.rows, part_floats = weight_part_floats(&s, form);
    const int64_t parts = p->weight_parts < s.pieces ? p->weight_parts : s.pieces;
    const int reordered = input_gradient && backward_by_rows(&s) && !ck_conv2d_winograd(p);
    if (form == DW_BY_COLUMNS) return weight_gradient && parts > 1 ? (parts - 1) * weights : 0;
    return (weight_gradient ? parts * part_floats : 0) + (reordered ? weights : 0);
}

/* The partial sums of `floats` floats each, added in order into the first. */
static void add_parts(int64_t parts, int64_t floats, float *dw_parts) {
    for (int64_t r = 1; r < parts; r++) {
        const float *part = dw_parts + r * floats;
        for (int64_t i = 0; i < floats; i++) dw_parts[i] += part[i];
    }
}

void ck_conv2d_backward(const ck_conv2d_pieces *p, const float *images, const float *dz,
                        const float *weight, float *dw, float beta, float *scratch,
                        float *dx, int dx_accumulate, float *columns, float *column_gradient) {
    const piece_sizes s = sizes_of(p);
    const int64_t weights = p->out_channels * s.rows;
    if (dw && beta == 0.0f && s.pieces == 0)
        memset(dw, 0, (size_t)weights * sizeof(float)); /* the sum of no products */
    const int64_t parts = p->weight_parts < s.pieces ? p->weight_parts : s.pieces;
    const int by_rows = backward_by_rows(&s);
    const weight_form form = weight_form_of(&s);
    const float *u = dx && ck_conv2d_winograd(p) ? transformed_weights(&s, weight, 1) : NULL;
    float *rows_weight = NULL;
    if (by_rows && dx && !u) { /* W with its columns in the rows' order */
        rows_weight = scratch + (dw ? parts * weights : 0);
        move_weights(p, TO_ROWS_ORDER, 0.0f, weight, rows_weight);
    }
    backward_args args = {s, parts, dx_accumulate && by_rows, form, images, dz, weight,
                          rows_weight, dw, beta, scratch, dx,
                          form == DW_WINOGRAD ? NULL : columns, u ? NULL : column_gradient, u};
    run_in_slots(parts, p->slots, backward_part, &args);
    if (!dw) return;
    if (form == DW_WINOGRAD) {
        const ck_winograd_shape shape = winograd_shape(&s, 0);
        add_parts(parts, weight_part_floats(&s, form), scratch);
        if (ck_winograd_weight_gradient(&shape, scratch, beta, dw)) return;
        /* Sums not finite: dW again, by rows through per-thread scratch, its partial sums in
         * scratch (fewer floats than the transformed ones). */
        args.dw_form = DW_BY_ROWS;
        args.dx = NULL;
        run_in_slots(parts, p->slots, backward_part, &args);
    }
    if (args.dw_form == DW_BY_ROWS) {
        add_parts(parts, weights, scratch);
        move_weights(p, ADD_TO_OIHW, beta, scratch, dw);
        return;
    }
    for (int64_t r = 1; r < parts; r++) { /* by columns, into the first from beta * dW */
        const float *part = scratch + (r - 1) * weights;
        for (int64_t i = 0; i < weights; i++) dw[i] += part[i];
    }
}
