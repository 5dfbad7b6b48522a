// Kernels given sizes of 0: nothing is read or written, and the pointers may be NULL
// (ckernels.h); the kernels then form no pointer from them (NULL plus any offset, even 0, is
// undefined in C).
import CKernels
import XCTest

final class EmptyOperandTests: XCTestCase {
    /// Rows of no classes: no row maximum is read (a read of NULL would crash).
    func testSoftmaxOfNoClasses() {
        ck_softmax(3, 0, nil, nil)
    }

    /// No images: no channel-major planes to move and no sums to add, so the bias gradient
    /// keeps its bits, -0 included (adding a sum of nothing, +0, would make it +0).
    func testConvolutionOutputGradientOfNoImages() {
        var dbias: [Float] = [-0.0, 1, -0.0, 2]
        ck_conv2d_output_gradient(0, 4, 16, nil, nil, nil, &dbias)
        assertBitwiseEqual(dbias, [-0.0, 1, -0.0, 2])
        ck_conv2d_output_gradient(2, 4, 0, nil, nil, nil, &dbias)
        assertBitwiseEqual(dbias, [-0.0, 1, -0.0, 2])
    }

    /// Planes of no pixels: y has no elements, and z and y may be NULL. What this checks is
    /// that no pointer is formed from them, which the undefined-behaviour sanitizer reports.
    func testConvolutionOutputOfNoPixels() {
        ck_conv2d_output(2, 4, 0, nil, [1, 2, 3, 4], 1, nil)
    }

    /// Windows that fit no output row (one image row, a 3 x 3 kernel, no padding along the
    /// height): no columns, and every image pixel is the sum of none, +0. Flat (padding 1
    /// along the width) and strided geometries.
    func testCol2imOfNoOutputPixels() {
        for stride: Int64 in [1, 2] {
            var images = [Float](repeating: sentinel, count: 2 * 2 * 1 * 5)
            ck_col2im(2, 2, 1, 5, 3, 3, stride, stride, 0, 1, nil, &images)
            assertBitwiseEqual(images, [Float](repeating: 0, count: images.count), "stride \(stride)")
        }
    }

    /// Transposes, maxima, scatters and softmax gradients of no elements (no columns, no
    /// inner elements, no classes) with NULL operands: nothing to read or write.
    func testKernelsOfNoColumnsInnerElementsOrClasses() {
        ck_transpose(2, 3, 0, nil, 0, nil)
        ck_transpose(2, 0, 3, nil, 1, nil)
        ck_max_axis(2, 3, 0, nil, nil, nil)
        ck_scatter_add_rows(3, 0, nil, nil, 2, 1, nil)
        ck_softmax_backward(3, 0, nil, nil, 0, nil)
        ck_log_softmax_backward(3, 0, nil, nil, 1, nil)
    }

    /// A batch of no products summed into one C (stride 0) leaves C = beta * C, the empty
    /// sum; a C per product (stride not 0) has no matrix to write.
    func testBatchedProductOfNoMatrices() {
        var c: [Float] = [sentinel, 1, 2, sentinel]
        ck_sgemm_batched(0, 0, 0, 2, 2, 3, 1, nil, 3, 6, nil, 2, 0, 0, &c, 2, 0)
        assertBitwiseEqual(c, [0, 0, 0, 0])
        c = [1, 2, 3, 4]
        ck_sgemm_batched(0, 0, 0, 2, 2, 3, 1, nil, 3, 6, nil, 2, 0, 0.5, &c, 2, 0)
        assertBitwiseEqual(c, [0.5, 1, 1.5, 2])
        ck_sgemm_batched(0, 0, 0, 2, 2, 3, 1, nil, 3, 6, nil, 2, 0, 0, &c, 2, 4)
        assertBitwiseEqual(c, [0.5, 1, 1.5, 2])
    }

    /// Products of no terms (k = 0) or with alpha 0 read neither A nor B, which may then be
    /// NULL: each C_i = beta * C_i, with no pointer formed from A's or B's strides. An empty C
    /// (m or n 0) may be NULL too.
    func testBatchedProductsThatReadNoOperand() {
        var c: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        ck_sgemm_batched(2, 0, 0, 2, 2, 0, 1, nil, 1, 5, nil, 2, 5, 0.5, &c, 2, 4)
        assertBitwiseEqual(c, [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4])
        ck_sgemm_batched(2, 1, 1, 2, 2, 3, 0, nil, 2, 6, nil, 3, 6, 2, &c, 2, 4)
        assertBitwiseEqual(c, [1, 2, 3, 4, 5, 6, 7, 8])
        ck_sgemm_batched(2, 0, 0, 0, 3, 4, 1, nil, 4, 12, nil, 3, 12, 0, nil, 3, 12)
        ck_sgemm_batched(3, 0, 0, 3, 0, 4, 1, nil, 4, 12, nil, 1, 4, 0, nil, 1, 0)
    }

    /// Rows of no columns: nothing is read or written, and no row pointer is formed from the
    /// NULL matrices, whatever their leading dimensions.
    func testRowKernelsOfNoColumns() {
        ck_bias_add(3, 0, nil, 4, nil)
        ck_bias_grad(3, 0, nil, 4, 0, nil)
        ck_gather_rows(3, 0, nil, 4, [0, 2, 1], nil)
        ck_copy_block(3, 0, nil, 4, 1, nil, 5)
    }

    /// Pooling with no windows (out 0) reads no input; backward into planes of no pixels
    /// writes nothing; and the planes of dx are still zeroed when there are no windows, dy
    /// and argmax NULL.
    func testPoolingOfNoWindowsOrNoPixels() {
        ck_max_pool2d_forward(3, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, nil, nil, nil)
        ck_avg_pool2d_forward(3, 4, 4, 2, 2, 2, 2, 0, 0, 1, 2, 0, nil, nil)
        ck_max_pool2d_backward(3, 0, 4, 0, 2, nil, nil, nil)
        ck_avg_pool2d_backward(3, 4, 0, 2, 2, 2, 2, 0, 0, 1, 2, 0, nil, nil)
        var dx = [Float](repeating: sentinel, count: 2 * 3)
        ck_max_pool2d_backward(2, 1, 3, 0, 0, nil, nil, &dx)
        assertBitwiseEqual(dx, [Float](repeating: 0, count: 6))
        dx = [Float](repeating: sentinel, count: 6)
        ck_avg_pool2d_backward(2, 1, 3, 2, 2, 2, 2, 0, 0, 1, 0, 0, nil, &dx)
        assertBitwiseEqual(dx, [Float](repeating: 0, count: 6))
    }

    /// The gradient of a maximum along an axis of length 0, or of slices of no elements: dx
    /// has no elements, and indices and dy are not read.
    func testMaxAlongAxisBackwardOfNoElements() {
        ck_max_axis_backward(3, 0, 2, nil, nil, 0, nil)
        ck_max_axis_backward(3, 2, 0, nil, nil, 1, nil)
    }
}
