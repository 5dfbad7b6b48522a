/*
 * ckernels_layers.h — element-wise layers, convolution, pooling and batch normalization.
 *
 * Part of ckernels.h, whose conventions (layouts, sizes, aliasing, thread independence) hold
 * for every function here.
 */
#ifndef CKERNELS_LAYERS_H
#define CKERNELS_LAYERS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Element-wise kernels
 * ------------------------------------------------------------------------------------- */

/* x[i][j] += bias[j] for a rows x cols matrix x (leading dimension ldx >= cols). */
void ck_bias_add(int64_t rows, int64_t cols, float *x, int64_t ldx, const float *bias);

/* dbias[j] += sum over i of dy[i][j] for a rows x cols matrix dy (ldy >= cols) when
 * accumulate != 0; otherwise dbias[j] = that sum (dbias not read, as if it held zeros).
 * Each column is summed on one thread, in float, over i in order (a batch is short; the
 * broadcasting kernels' sums, over any axis, add in double). */
void ck_bias_grad(int64_t rows, int64_t cols, const float *dy, int64_t ldy, int accumulate,
                  float *dbias);

/* y[i] = max(x[i], 0) for n elements: x[i] when it is not below 0, so NaN stays NaN and
 * -0.0 stays -0.0. y may be x (in place); otherwise no overlap. */
void ck_relu_forward(int64_t n, const float *x, float *y);

/* dx[i] = dy[i] where y[i] > 0, else 0, for n elements, y being the ReLU's output.
 * dx may be dy (in place); y must not overlap dx. */
void ck_relu_backward(int64_t n, const float *y, const float *dy, float *dx);

/* y[i] = 1 / (1 + exp(-x[i])) for n elements, computed from exp(-|x|) so that it never
 * overflows; results below Float's normal range (x < -87.3) are 0. NaN stays NaN. y may be x
 * (in place); otherwise no overlap. */
void ck_sigmoid_forward(int64_t n, const float *x, float *y);

/* y[i] = tanh(x[i]) for n elements, within 0.77 ulp of the exact value. y may be x (in
 * place); otherwise no overlap. */
void ck_tanh_forward(int64_t n, const float *x, float *y);

/* The activations whose gradient is a function of their output y, and that gradient's term
 * for output gradient dy, each product rounded, left to right. */
typedef enum {
    CK_ACTIVATION_RELU = 0,    /* dy where y > 0, else 0: ck_relu_backward's */
    CK_ACTIVATION_SIGMOID = 1, /* dy * y * (1 - y) */
    CK_ACTIVATION_TANH = 2,    /* dy * (1 - y * y) */
} ck_activation;

/* dx[i] (+)= the term of activation f for output y[i] and output gradient dy[i], for n
 * elements: added to dx when accumulate != 0 (the sum rounded once), dx overwritten
 * otherwise. dx may be dy (in place); y must not overlap dx. */
void ck_activation_backward(ck_activation f, int64_t n, const float *y, const float *dy,
                            int accumulate, float *dx);

/* Inverted dropout, training mode: y[i] = x[i] * (1 / (1 - p)) where element i is kept (the
 * scale rounded to float first, as PyTorch's), else x[i] * 0 (a zero of x[i]'s sign; NaN
 * where x[i] is NaN or infinite, as PyTorch's).
 * Element i is dropped when u(seed, i) < p, u being a uniform number in [0, 1) hashed from the
 * seed and the index alone: the same (seed, n) always drop the same elements, whatever the
 * thread count. 0 <= p < 1. y may be x (in place); otherwise no overlap. */
void ck_dropout_forward(int64_t n, const float *x, float *y, float p, uint64_t seed);

/* Dropout's backward with the same seed and p as the forward: dx[i] = dy[i] * (1 / (1 - p))
 * where element i was kept, else dy[i] * 0. dx may be dy (in place). */
void ck_dropout_backward(int64_t n, const float *dy, float *dx, float p, uint64_t seed);

/* dst row r = src row indices[r], for r in 0..<rows: copies rows x cols floats out of a
 * matrix src (leading dimension lds >= cols) into the dense matrix dst (rows x cols).
 * Every index must be a valid row of src (the caller checks); dst must not overlap src. */
void ck_gather_rows(int64_t rows, int64_t cols, const float *src, int64_t lds,
                    const int64_t *indices, float *dst);

/* out[i] = the smallest j maximizing x[i][j], for a rows x cols matrix x (ldx >= cols,
 * 1 <= cols <= INT32_MAX, so that every j fits in out). NaN compares as smaller than every
 * number. */
void ck_argmax_rows(int64_t rows, int64_t cols, const float *x, int64_t ldx, int32_t *out);

/* ---------------------------------------------------------------------------------------
 * Convolution and pooling
 *
 * Images are NCHW: a batch of images, each `channels` planes of height x width floats,
 * row-major and dense. A window of kernel_h x kernel_w slides with strides stride_h,
 * stride_w (>= 1); kernel sizes are >= 1.
 * ------------------------------------------------------------------------------------- */

/* The number of windows along a dimension of `size` with zero padding `pad` on both sides:
 * (size + 2 * pad - kernel) / stride + 1, or 0 when the kernel does not fit. */
int64_t ck_conv2d_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad);

/* im2col for a batch of images (batch x channels x height x width, dense) with zero padding
 * pad_h, pad_w: writes the dense columns matrix of (channels * kernel_h * kernel_w) rows and
 * (batch * out_h * out_w) columns, out_h and out_w from ck_conv2d_output_size:
 *   columns[(c * kernel_h + ky) * kernel_w + kx][(b * out_h + oy) * out_w + ox]
 *       = images[b][c][oy * stride_h - pad_h + ky][ox * stride_w - pad_w + kx]
 * or 0 where that position lies in the padding. A convolution of the whole batch is then one
 * GEMM, channel-major: z (out_channels x batch*out_h*out_w) = weights (out_channels x
 * channels*kh*kw) * columns, moved to NCHW by ck_conv2d_output. Reads images, writes every
 * element of columns; no overlap. */
void ck_im2col(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, const float *images, float *columns);

/* col2im, the adjoint of ck_im2col (the input gradient of a convolution from the gradient of
 * its columns, same layout): images[b][c][iy][ix] = the sum of every columns element that
 * ck_im2col would copy from (b, c, iy, ix); elements that fall in the padding are dropped,
 * and may be set to zero (columns is the caller's scratch: the others are only read). Writes
 * every element of images (it is not read: no need to zero it). Each plane is summed on one
 * thread, window offset (ky, kx) by offset, then oy, ox in order: the same bits whatever the
 * thread count. No overlap. */
void ck_col2im(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, float *columns, float *images);

/* im2row, ck_im2col's transpose with channels last: the dense rows matrix of (batch * out_h *
 * out_w) rows of kernel_h * kernel_w * channels floats,
 *   rows[(b * out_h + oy) * out_w + ox][(ky * kernel_w + kx) * channels + c]
 *       = images[b][c][oy * stride_h - pad_h + ky][ox * stride_w - pad_w + kx]
 * or 0 where that position lies in the padding. Reads images, writes every element of rows;
 * no overlap. */
void ck_im2row(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, const float *images, float *rows);

/* row2im, the adjoint of ck_im2row: images[b][c][iy][ix] (+)= the sum of every rows element
 * that ck_im2row would copy from (b, c, iy, ix), elements that fall in the padding dropped.
 * Writes every element of images (read only with accumulate). Each image is summed on one
 * thread from +0, adding its rows in order and each row's window offsets in (ky, kx) order,
 * then added to the image with accumulate: the same bits whatever the thread count. No
 * overlap. */
void ck_row2im(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, const float *rows, int accumulate, float *images);

/* y[b][c][i] = z[c][b][i] + bias[c]: a channel-major product z (channels x batch x pixels,
 * dense; ck_im2col's GEMM) as a dense NCHW tensor y, with one bias per channel (bias NULL:
 * none). When relu != 0, each result x then becomes x < 0 ? 0 : x, bitwise as
 * ck_relu_forward on y. No overlap. */
void ck_conv2d_output(int64_t batch, int64_t channels, int64_t pixels, const float *z,
                      const float *bias, int relu, float *y);

/* The adjoint of ck_conv2d_output: dz[c][b][i] = dy[b][c][i] (dense, channel-major from
 * NCHW), and dbias[c] += the sum over b and i of dz[c][b][i] (dbias NULL: not computed),
 * each channel on one thread, summed in double as batch normalization's sums are (below),
 * then rounded and added. With relu_y (the output of ck_conv2d_output with relu, NCHW as
 * dy; NULL: none), dy passes back through that ReLU first: dz[c][b][i] = dy[b][c][i] where
 * relu_y[b][c][i] > 0, else 0, bitwise as ck_relu_backward then this function. No overlap.
 * When batch or pixels is 0, nothing happens (dbias is left as it is). */
void ck_conv2d_output_gradient(int64_t batch, int64_t channels, int64_t pixels, const float *dy,
                               const float *relu_y, float *dz, float *dbias);

/* A convolution (square kernels, one stride and padding, as ck_im2col) of a batch of NCHW
 * images (batch x channels x height x width) by out_channels kernels (OIHW weights, rows =
 * channels * kernel * kernel of them each), taken in pieces of images_per_piece (>= 1)
 * images, the last one shorter. The caller's columns buffers hold `slots` (>= 1) pieces,
 * rows * images_per_piece * out_h * out_w floats each; up to that many pieces are in flight
 * at once, on as many threads. The backward pass sums dW in weight_parts (>= 1) partial sums,
 * each over consecutive pieces, added in order: its bits depend on weight_parts, never on the
 * thread count or slots. A batch of one piece runs its kernels on all the threads. */
typedef struct {
    int64_t batch, channels, height, width, out_channels, kernel, stride, pad;
    int64_t images_per_piece, slots, weight_parts;
} ck_conv2d_pieces;

/* y = W · im2col(x) + bias, NCHW (ck_im2col, ck_sgemm, then ck_conv2d_output with bias and
 * relu, a piece at a time): each piece unfolded into a slot of columns, its product z into a
 * slot of `product` (out_channels * images_per_piece * out_h * out_w floats a slot), then
 * moved to its images' part of y. A batch of images of at least 16 channels whose windows are
 * not flat (a stride above 1, or output rows not as wide as the plane's) is unfolded by
 * ck_im2row instead, into rows (as many floats), and z = W · rowsᵀ. Leaves the columns (or
 * rows) of the whole batch in columns when it is one piece. A batch that ck_conv2d_winograd
 * names goes instead in the Winograd form F(2x2, 3x3), each piece through per-thread scratch
 * (columns and product are not used and may be NULL): the same sums to rounding, in other
 * operations. A piece whose transformed
 * products are not all finite (an infinity or NaN in the images or weights), where that
 * form's sums can be NaN in place of the definition's infinities, takes the products still,
 * through per-thread scratch. No overlap. */
void ck_conv2d_forward(const ck_conv2d_pieces *p, const float *images, const float *weight,
                       const float *bias, int relu, float *columns, float *product, float *y);

/* Whether ck_conv2d_forward, and ck_conv2d_backward for dX, take a batch in the Winograd form
 * F(2x2, 3x3) (1) rather than by im2col or im2row (0): 3x3 windows at stride 1 with padding 1
 * in several pieces (a batch of one piece leaves its columns for the backward pass), with
 * channels in and out, on planes of at least 2 x 2 pixels. On a plane one pixel high or wide,
 * an output pixel's window holds at most 3 of a kernel's 9 weights (on a 1 x 1 plane, 1),
 * while each transformed element carries terms of all 9: those of the weights outside the
 * plane cancel in the exact sum, but their rounding does not, an error large against the few
 * terms that im2col sums (and a 1 x 1 plane takes a whole 2 x 2 tile, 16 products a channel
 * pair where im2col takes 9). */
int ck_conv2d_winograd(const ck_conv2d_pieces *p);

/* Whether ck_conv2d_backward takes dW of a batch in the Winograd form F(3x3, 2x2) (1) rather
 * than by im2col or im2row (0): a batch that ck_conv2d_winograd names, of planes at least
 * 3 x 3 pixels (on narrower ones the transformed tiles carry the rounding of pixels outside a
 * weight's few terms into its sum). */
int ck_conv2d_winograd_weight_gradient(const ck_conv2d_pieces *p);

/* The backward pass of ck_conv2d_forward from dz (out_channels x batch x out_h * out_w,
 * channel-major: ck_conv2d_output_gradient of dy): dW (out_channels x rows) = beta * dW +
 * dz · columnsᵀ when dw is not NULL, and dX (NCHW as the images; written, not read, or with
 * dx_accumulate, which only a batch by rows takes, added to) = col2im(Wᵀ · dz) when dx is not
 * NULL, a piece at a time. A batch that ck_conv2d_forward takes by rows, or of several pieces
 * whose images have at least 16 channels, goes by rows: each piece unfolded by ck_im2row into
 * a slot of columns (images NULL: columns holds the whole batch's rows, which is one piece),
 * dW's products dz · rows, dX = ck_row2im(dzᵀ · W) through a slot of column_gradient.
 * Otherwise by columns: each piece unfolded again by ck_im2col from images into a slot of
 * columns (images NULL: columns holds the whole batch's, which is one piece),
 * dX = ck_col2im(Wᵀ · dz). A batch that ck_conv2d_winograd names takes dX in the Winograd
 * form F(2x2, 3x3) instead, one that ck_conv2d_winograd_weight_gradient names dW in
 * F(3x3, 2x2), through per-thread scratch (columns and column_gradient are then not used
 * and may be NULL), except a piece of dX whose transformed products are not all finite (as
 * ck_conv2d_forward), which takes the products, and dW whose transformed sums are not all
 * finite, which is taken again by rows, all of it (a sum over the batch), both through
 * per-thread scratch. column_gradient holds as many floats as columns (not read when dx is
 * NULL or in the Winograd form); scratch ck_conv2d_backward_scratch floats. dW is summed in
 * parts = min(weight_parts, pieces) partial sums, sum r over pieces
 * [pieces * r / parts, pieces * (r + 1) / parts) in piece order, added in order: by columns
 * the first from beta * dW; by rows all from 0, then added to beta * dW; in the Winograd form
 * all from 0 in the transformed domain, added, then transformed back and added to
 * beta * dW. No overlap. */
void ck_conv2d_backward(const ck_conv2d_pieces *p, const float *images, const float *dz,
                        const float *weight, float *dw, float beta, float *scratch, float *dx,
                        int dx_accumulate, float *columns, float *column_gradient);

/* Whether ck_conv2d_backward takes a batch by rows (1) or by columns (0). */
int ck_conv2d_backward_by_rows(const ck_conv2d_pieces *p);

/* The floats of ck_conv2d_backward's scratch for the gradients asked for (flags 1 or 0): dW's
 * partial sums (in the Winograd form, 16 / 9 as many: transformed), and by rows, outside the
 * Winograd form, W with its columns in the rows' order. */
int64_t ck_conv2d_backward_scratch(const ck_conv2d_pieces *p, int weight_gradient,
                                   int input_gradient);

/* The number of pooling windows along a dimension of `size` padded by `pad` on each side,
 * PyTorch's rule: floor((size + 2 * pad - kernel) / stride) + 1 when ceil_mode == 0 (partial
 * windows at the end are dropped); with ceil_mode != 0, ceil((size + 2 * pad - kernel) /
 * stride) + 1, less one if the last window would start in the padding after the input. 0 when
 * that is not at least 1 (size + 2 * pad < kernel without ceil mode, kernel - size - 2 * pad
 * >= stride with it), and when pad is negative or more than half the kernel (PyTorch's
 * limit). */
int64_t ck_pool2d_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad,
                              int ceil_mode);

/* Pooling runs over `planes` dense height x width planes of x (batch * channels of them)
 * into dense out_h x out_w planes of y. Window (oy, ox) covers rows oy * stride_h - pad_h +
 * 0..<kernel_h and columns ox * stride_w - pad_w + 0..<kernel_w, clipped to the plane: the
 * caller picks out_h, out_w (ck_pool2d_output_size), windows at the edges are partial with
 * padding or ceil mode. Every window must hold an element of the plane (pad < kernel, and the
 * last window starts inside the plane). Planes are split between threads. */

/* y = the maximum of each window (padding counts as -infinity: the maximum of the window's
 * elements inside the plane); argmax = its index iy * width + ix within the plane (the first
 * maximum in row-major order; a NaN is the maximum, the first one, where PyTorch's max_pool2d
 * takes a window's last NaN). Writes y and argmax; no overlap. */
void ck_max_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                           int64_t pad_w, int64_t out_h, int64_t out_w, const float *x,
                           float *y, int64_t *argmax);

/* dx = zero, then dx[plane][argmax[plane][o]] += dy[plane][o] for each o in order, argmax
 * from ck_max_pool2d_forward. Writes every element of dx (not read); no overlap. */
void ck_max_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t out_h,
                            int64_t out_w, const int64_t *argmax, const float *dy, float *dx);

/* y = the sum of each window's elements inside the plane (padding counts as zero) divided by
 * the window's size: with count_pad != 0 (PyTorch's count_include_pad=True) the size of the
 * window clipped to the padded plane, rows [-pad_h, height + pad_h) and columns [-pad_w,
 * width + pad_w); with count_pad == 0 the number of its elements inside the plane. The sum in
 * double, rows then columns in order, divided in double and rounded to float once. Without
 * padding both are PyTorch's AvgPool2d, whose partial windows in ceil mode divide by their
 * clipped size. Writes y. */
void ck_avg_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                           int64_t pad_w, int count_pad, int64_t out_h, int64_t out_w,
                           const float *x, float *y);

/* dx = zero, then each window (row-major order) adds dy / (its size, as in
 * ck_avg_pool2d_forward) to each of its elements inside the plane. Writes every element of dx
 * (not read); no overlap. */
void ck_avg_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                            int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                            int64_t pad_w, int count_pad, int64_t out_h, int64_t out_w,
                            const float *dy, float *dx);

/* ---------------------------------------------------------------------------------------
 * Batch normalization
 *
 * PyTorch's BatchNorm1d (N x F: pixels = 1) and BatchNorm2d (NCHW: pixels = H * W) over a
 * dense batch x channels x pixels tensor x; per channel c, n = batch * pixels values
 * x[b][c][i]. gamma, beta, the running and the saved statistics have `channels` floats.
 * Each channel is handled on one thread, its sums taken in double in 8 lanes (pixel i of
 * each plane into lane i % 8, in (b, i) order; the lanes added in a fixed tree): the same
 * bits whatever the thread count. Outputs must not overlap inputs.
 * ------------------------------------------------------------------------------------- */

/* Training mode, with the batch's statistics (n >= 2, which the caller checks):
 *   mean[c]        = (1 / n) * sum over b, i of x[b][c][i]
 *   var[c]         = (1 / n) * sum of (x[b][c][i] - mean[c])^2           (biased)
 *   inv_std[c]     = 1 / sqrt(var[c] + eps)
 *   y[b][c][i]     = gamma[c] * (x[b][c][i] - mean[c]) * inv_std[c] + beta[c]
 *   running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
 *   running_var[c]  = (1 - momentum) * running_var[c] + momentum * var[c] * n / (n - 1)
 *                                                           (unbiased, as PyTorch)
 * Writes y, saved_mean = mean and saved_inv_std = inv_std (for ck_batch_norm_backward);
 * reads and writes running_mean and running_var. Nothing happens when batch * pixels == 0. */
void ck_batch_norm_forward_training(int64_t batch, int64_t channels, int64_t pixels,
                                    const float *x, const float *gamma, const float *beta,
                                    float eps, float momentum, float *y, float *saved_mean,
                                    float *saved_inv_std, float *running_mean,
                                    float *running_var);

/* Evaluation mode, with the running statistics:
 *   inv_std[c]  = 1 / sqrt(running_var[c] + eps)
 *   y[b][c][i]  = gamma[c] * (x[b][c][i] - running_mean[c]) * inv_std[c] + beta[c]
 * Writes y, and saved_mean = running_mean and saved_inv_std = inv_std when they are not NULL
 * (for ck_batch_norm_backward with batch_statistics == 0). */
void ck_batch_norm_forward_inference(int64_t batch, int64_t channels, int64_t pixels,
                                     const float *x, const float *gamma, const float *beta,
                                     const float *running_mean, const float *running_var,
                                     float eps, float *y, float *saved_mean,
                                     float *saved_inv_std);

/* Backward, from the x and the saved statistics of a forward pass; x_hat = (x - saved_mean)
 * * saved_inv_std:
 *   dgamma[c] += sum over b, i of dy[b][c][i] * x_hat[b][c][i]
 *   dbeta[c]  += sum over b, i of dy[b][c][i]
 *   batch_statistics != 0 (after ck_batch_norm_forward_training; the statistics depend on x):
 *     dx = gamma[c] * saved_inv_std[c] / n * (n * dy - sum(dy) - x_hat * sum(dy * x_hat))
 *   batch_statistics == 0 (after ck_batch_norm_forward_inference; a fixed affine map):
 *     dx = gamma[c] * saved_inv_std[c] * dy
 * Writes dx (which may be NULL when only the parameter gradients are wanted); accumulates
 * dgamma and dbeta. Nothing happens when batch * pixels == 0. */
void ck_batch_norm_backward(int64_t batch, int64_t channels, int64_t pixels, const float *x,
                            const float *dy, const float *gamma, const float *saved_mean,
                            const float *saved_inv_std, int batch_statistics, float *dx,
                            float *dgamma, float *dbeta);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_LAYERS_H */
