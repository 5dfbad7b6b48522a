/* Internal: the Winograd form F(2x2, 3x3) of a convolution with 3x3 windows at stride 1 and
 * padding 1, and F(3x3, 2x2) of its weight gradient (convolution_winograd.c), which
 * ck_conv2d_forward and ck_conv2d_backward take for the batches that ck_conv2d_winograd
 * (ckernels_layers.h) names. */
#ifndef CK_CONVOLUTION_WINOGRAD_H
#define CK_CONVOLUTION_WINOGRAD_H

#include "ckernels.h"
#include "threading.h"

/* A convolution of images of `channels` planes of height x width into out_channels planes of
 * the same size. Input image b's plane c starts at b * image_stride + c * channel_stride
 * (NCHW: channels * height * width and height * width; a channel-major dz: height * width and
 * batch * height * width). */
typedef struct {
    int64_t channels, out_channels, height, width;
    int64_t image_stride, channel_stride;
} ck_winograd_shape;

/* The floats of the transformed weights U (16 x channels x out_channels), and of the weight
 * gradient's transformed sums M (16 x out_channels x channels). */
int64_t ck_winograd_weight_floats(const ck_winograd_shape *p);

/* U[ξ][c][o] = (G g Gᵀ)[ξ] for the kernel g of input channel c and output channel o: OIHW's
 * weight[o][c], or with flipped, the input gradient's, weight[c][o] rotated by 180 degrees
 * (weight then OIHW with out_channels inputs and channels outputs). */
void ck_winograd_weights(const ck_winograd_shape *p, const float *weight, int flipped,
                         float *u);

/* y (count images, NCHW, out_channels planes) = the convolution of `count` images by the
 * weights of U, plus the bias (NULL: none), then the ReLU when relu != 0, as
 * ck_conv2d_output; or with accumulate, y += that; returns 1. Returns 0 with y untouched when
 * a transformed product is infinite or NaN (an infinity or NaN among the images or weights,
 * or a sum beyond the float range), where the Winograd form's sums can be NaN in place of the
 * definition's infinities: the caller then computes y by the products. On the calling thread
 * (its products on as many threads as ck_sgemm takes there), through per-thread scratch. */
int ck_winograd_images(const ck_winograd_shape *p, const float *u, const float *images,
                       int64_t count, const float *bias, int relu, int accumulate, float *y);

/* M[ξ] (out_channels x channels) = beta * M[ξ] (not read when beta is 0) + Σ over the tiles
 * of `count` images (as ck_winograd_images reads them) of Y[ξ][o][tile] · V[ξ][tile][c]: the
 * weight gradient's sums in the Winograd form F(3x3, 2x2) (convolution_winograd.c), from the
 * images and their output gradient dz, image b's plane o at b * dz_image_stride +
 * o * dz_channel_stride (height x width, dense). On the calling thread (its products on as
 * many threads as ck_sgemm takes there), through per-thread scratch. */
void ck_winograd_weight_products(const ck_winograd_shape *p, const float *images,
                                 const float *dz, int64_t dz_image_stride,
                                 int64_t dz_channel_stride, int64_t count, float beta,
                                 float *m);

/* dW (OIHW, out_channels x channels x 3 x 3) = beta * dW (not read when beta is 0) +
 * Gᵀ M[.][o][c] G for each kernel (o, c): the weight gradient from its sums M; returns 1.
 * Returns 0 with dW untouched when a sum of M is infinite or NaN (an infinity or NaN among
 * the images or dz, or a sum beyond the float range), as ck_winograd_images: the caller then
 * computes dW by the products. */
int ck_winograd_weight_gradient(const ck_winograd_shape *p, const float *m, float beta,
                                float *dw);

#endif
