/* Internal: the ReLU's rule, one element at a time, shared by its own kernels (elementwise.c)
 * and the convolution's moves that apply it on the way (convolution.c), so that they give the
 * same bits. */
#ifndef CK_RELU_H
#define CK_RELU_H

/* max(x, 0): x when it is not below 0, so NaN stays NaN and -0.0 stays -0.0. */
static inline __attribute__((always_inline)) float relu_value(float x) {
    return x < 0.0f ? 0.0f : x;
}

/* dy where the ReLU's output y is above 0, else 0. dy is an argument, read whatever y is, so
 * that the select vectorizes. */
static inline __attribute__((always_inline)) float relu_gradient(float y, float dy) {
    return y > 0.0f ? dy : 0.0f;
}

#endif
