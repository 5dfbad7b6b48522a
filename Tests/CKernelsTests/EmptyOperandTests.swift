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
}
