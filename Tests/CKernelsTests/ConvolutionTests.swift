// The convolution kernels (im2col, col2im, the moves between the channel-major product and
// NCHW with the bias) against plain Swift loops, on odd sizes and on sizes that go parallel,
// where the pooling kernels (PoolingKernelTests.swift) are checked too.
import CKernels
import DeepLearning
import XCTest

/// A convolution's geometry: a batch of channels x height x width images, kernel, stride,
/// padding; the kernel's width and the padding of the sides, when given, differ from the
/// kernel's height and the padding of the top and bottom.
private struct ConvCase: CustomStringConvertible {
    let batch, channels, height, width, kernel, stride, padding: Int
    var kernelWidth: Int? = nil
    var paddingWidth: Int? = nil
    var kw: Int { kernelWidth ?? kernel }
    var pw: Int { paddingWidth ?? padding }
    var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    var outWidth: Int { (width + 2 * pw - kw) / stride + 1 }
    var rows: Int { channels * kernel * kw }
    var pixels: Int { outHeight * outWidth }
    /// The columns of the columns matrix: every output pixel of every image.
    var columns: Int { batch * pixels }
    var imagesCount: Int { batch * channels * height * width }
    var description: String {
        "\(batch) x C\(channels) \(height)x\(width) k\(kernel)x\(kw) s\(stride) p\(padding),\(pw)"
    }

    /// The images' position that columns[row][column] reads, or nil in the padding.
    func source(row: Int, column: Int) -> Int? {
        let (c, ky, kx) = (row / (kernel * kw), row / kw % kernel, row % kw)
        let (b, pixel) = (column / pixels, column % pixels)
        let iy = pixel / outWidth * stride - padding + ky
        let ix = pixel % outWidth * stride - pw + kx
        guard (0..<height).contains(iy), (0..<width).contains(ix) else { return nil }
        return ((b * channels + c) * height + iy) * width + ix
    }
}

private let convCases = [
    ConvCase(batch: 1, channels: 1, height: 5, width: 7, kernel: 3, stride: 1, padding: 0),
    ConvCase(batch: 3, channels: 2, height: 7, width: 5, kernel: 3, stride: 2, padding: 1),
    ConvCase(batch: 2, channels: 3, height: 6, width: 9, kernel: 5, stride: 1, padding: 2),
    ConvCase(batch: 4, channels: 2, height: 5, width: 5, kernel: 1, stride: 2, padding: 0),
    ConvCase(batch: 1, channels: 1, height: 4, width: 3, kernel: 5, stride: 1, padding: 2),
    ConvCase(batch: 5, channels: 2, height: 9, width: 8, kernel: 3, stride: 2, padding: 2),
    ConvCase(batch: 2, channels: 3, height: 8, width: 7, kernel: 5, stride: 2, padding: 1),
    ConvCase(batch: 3, channels: 1, height: 3, width: 11, kernel: 1, stride: 1, padding: 1),
    ConvCase(batch: 7, channels: 16, height: 8, width: 8, kernel: 3, stride: 1, padding: 1),
    // Flat planes of 1024 and 1155 pixels, which im2col and col2im take through their tables
    // of 9 flags a pixel, and of 1845, past the tables' 16384 flags.
    ConvCase(batch: 2, channels: 2, height: 32, width: 32, kernel: 3, stride: 1, padding: 1),
    ConvCase(batch: 2, channels: 2, height: 33, width: 35, kernel: 3, stride: 1, padding: 1),
    ConvCase(batch: 1, channels: 2, height: 45, width: 41, kernel: 3, stride: 1, padding: 1),
    // Flat (rows as wide as the images) with outputs fewer or more rows than the images.
    ConvCase(batch: 2, channels: 2, height: 7, width: 6, kernel: 5, stride: 1, padding: 0,
             kernelWidth: 3, paddingWidth: 1),
    ConvCase(batch: 2, channels: 2, height: 5, width: 6, kernel: 4, stride: 1, padding: 1,
             kernelWidth: 3, paddingWidth: 1),
    ConvCase(batch: 2, channels: 2, height: 3, width: 4, kernel: 1, stride: 1, padding: 2,
             kernelWidth: 3, paddingWidth: 1),
    ConvCase(batch: 3, channels: 1, height: 1, width: 1, kernel: 1, stride: 1, padding: 0),
]

/// An unfolding kernel's signature: ck_im2col's and ck_im2row's.
private typealias Unfold = (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64,
                            UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void

/// `unfold`'s matrix of the images (which starts as NaN).
private func unfolded(_ g: ConvCase, _ images: [Float], by unfold: Unfold) -> [Float] {
    var matrix = [Float](repeating: sentinel, count: g.rows * g.columns)
    images.withUnsafeBufferPointer { i in
        matrix.withUnsafeMutableBufferPointer { m in
            unfold(Int64(g.batch), Int64(g.channels), Int64(g.height), Int64(g.width),
                   Int64(g.kernel), Int64(g.kw), Int64(g.stride), Int64(g.stride),
                   Int64(g.padding), Int64(g.pw), i.baseAddress, m.baseAddress)
        }
    }
    return matrix
}

private func im2col(_ g: ConvCase, _ images: [Float]) -> [Float] {
    unfolded(g, images, by: ck_im2col)
}

/// ck_col2im into images that start as NaN, and the columns as it leaves them (it may zero
/// those that fall in the padding).
private func col2im(_ g: ConvCase, _ columns: [Float]) -> (images: [Float], columns: [Float]) {
    var images = [Float](repeating: sentinel, count: g.imagesCount)
    var scratch = columns
    scratch.withUnsafeMutableBufferPointer { c in
        images.withUnsafeMutableBufferPointer { i in
            ck_col2im(Int64(g.batch), Int64(g.channels), Int64(g.height), Int64(g.width),
                      Int64(g.kernel), Int64(g.kw), Int64(g.stride), Int64(g.stride),
                      Int64(g.padding), Int64(g.pw), c.baseAddress, i.baseAddress)
        }
    }
    return (images, scratch)
}

/// ck_im2row: the rows matrix, row = output pixel, columns in (ky, kx, c) order.
private func im2row(_ g: ConvCase, _ images: [Float]) -> [Float] {
    unfolded(g, images, by: ck_im2row)
}

/// ck_row2im into images that start as NaN, or with `addingTo`, added to those images.
private func row2im(_ g: ConvCase, _ rows: [Float], addingTo start: [Float]? = nil) -> [Float] {
    var images = start ?? [Float](repeating: sentinel, count: g.imagesCount)
    rows.withUnsafeBufferPointer { r in
        images.withUnsafeMutableBufferPointer { i in
            ck_row2im(Int64(g.batch), Int64(g.channels), Int64(g.height), Int64(g.width),
                      Int64(g.kernel), Int64(g.kw), Int64(g.stride), Int64(g.stride),
                      Int64(g.padding), Int64(g.pw), r.baseAddress, start == nil ? 0 : 1,
                      i.baseAddress)
        }
    }
    return images
}

extension ConvCase {
    /// The columns matrix's (row, column) of element i of the rows matrix (ck_im2row's layout:
    /// a row per output pixel, its floats in (ky, kx, c) order).
    func columnsPosition(ofRowsElement i: Int) -> (row: Int, column: Int) {
        let (column, inRow) = (i / rows, i % rows)
        let (offset, c) = (inRow / channels, inRow % channels)
        return (c * kernel * kw + offset, column)
    }
}

/// ck_conv2d_output: the channel-major `z` as NCHW plus `bias` (nil: none), through a ReLU
/// when `relu`.
private func conv2dOutput(batch: Int, channels: Int, pixels: Int, _ z: [Float],
                          bias: [Float]?, relu: Bool = false) -> [Float] {
    var y = [Float](repeating: sentinel, count: z.count)
    z.withUnsafeBufferPointer { zs in
        y.withUnsafeMutableBufferPointer { ys in
            withOptionalBuffer(bias) {
                ck_conv2d_output(Int64(batch), Int64(channels), Int64(pixels), zs.baseAddress,
                                 $0, relu ? 1 : 0, ys.baseAddress)
            }
        }
    }
    return y
}

/// ck_conv2d_output_gradient: dy (masked by `reluOutput` > 0 where given) channel-major, and
/// `dbias` after the sums are added to it (nil: not computed).
private func conv2dOutputGradient(batch: Int, channels: Int, pixels: Int, _ dy: [Float],
                                  reluOutput: [Float]? = nil,
                                  dbias: [Float]?) -> (dz: [Float], dbias: [Float]?) {
    var dz = [Float](repeating: sentinel, count: dy.count)
    var sums = dbias
    dy.withUnsafeBufferPointer { dys in
        dz.withUnsafeMutableBufferPointer { dzs in
            withOptionalBuffer(reluOutput) { mask in
                guard sums != nil else {
                    return ck_conv2d_output_gradient(Int64(batch), Int64(channels),
                                                     Int64(pixels), dys.baseAddress, mask,
                                                     dzs.baseAddress, nil)
                }
                sums!.withUnsafeMutableBufferPointer {
                    ck_conv2d_output_gradient(Int64(batch), Int64(channels), Int64(pixels),
                                              dys.baseAddress, mask, dzs.baseAddress,
                                              $0.baseAddress)
                }
            }
        }
    }
    return (dz, sums)
}

/// `body` with the base address of `values`, or nil when there are none.
private func withOptionalBuffer(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> Void) {
    guard let values else { return body(nil) }
    values.withUnsafeBufferPointer { body($0.baseAddress) }
}

final class ConvolutionTests: XCTestCase {
    func testIm2colCopiesEachWindowWithZeroPadding() {
        var rng = SeededGenerator(seed: 1)
        for g in convCases {
            let images = randomFloats(g.imagesCount, using: &rng)
            let expected = (0..<g.rows * g.columns).map { i in
                g.source(row: i / g.columns, column: i % g.columns).map { images[$0] } ?? 0
            }
            assertBitwiseEqual(im2col(g, images), expected, "\(g)")
        }
    }

    func testCol2imSumsEveryWindowIntoTheImages() {
        var rng = SeededGenerator(seed: 2)
        for g in convCases {
            let columns = randomFloats(g.rows * g.columns, using: &rng)
            var expected = [Double](repeating: 0, count: g.imagesCount)
            for i in 0..<columns.count {
                if let j = g.source(row: i / g.columns, column: i % g.columns) {
                    expected[j] += Double(columns[i])
                }
            }
            let (images, after) = col2im(g, columns)
            assertClose(images, expected, tolerance: 1e-5, "\(g)")
            for i in 0..<columns.count where after[i].bitPattern != columns[i].bitPattern {
                XCTAssertTrue(after[i] == 0 && g.source(row: i / g.columns, column: i % g.columns) == nil,
                              "\(g): column element \(i) inside the images changed to \(after[i])")
            }
        }
    }

    func testIm2rowCopiesEachWindowChannelsLast() {
        var rng = SeededGenerator(seed: 3)
        for g in convCases {
            let images = randomFloats(g.imagesCount, using: &rng)
            let expected = (0..<g.rows * g.columns).map { i in
                let (row, column) = g.columnsPosition(ofRowsElement: i)
                return g.source(row: row, column: column).map { images[$0] } ?? 0
            }
            assertBitwiseEqual(im2row(g, images), expected, "\(g)")
        }
    }

    /// row2im's sums, bit for bit those of the rows' elements added in order (output pixels,
    /// then (ky, kx)) from +0, -0 inputs included, and then added to the images.
    func testRow2imSumsEveryWindowInRowOrder() {
        var rng = SeededGenerator(seed: 4)
        for g in convCases {
            var rows = randomFloats(g.rows * g.columns, using: &rng)
            for i in stride(from: 0, to: rows.count, by: 5) { rows[i] = -0.0 }
            var expected = [Float](repeating: 0, count: g.imagesCount)
            for i in 0..<rows.count {
                let (row, column) = g.columnsPosition(ofRowsElement: i)
                if let j = g.source(row: row, column: column) { expected[j] += rows[i] }
            }
            assertBitwiseEqual(row2im(g, rows), expected, "\(g)")
            let start = randomFloats(g.imagesCount, using: &rng)
            assertBitwiseEqual(row2im(g, rows, addingTo: start), zip(start, expected).map(+),
                               "\(g) added")
        }
    }

    /// No images (or no channels): nothing is read or written, on any path.
    func testEmptyBatchesDoNothing() {
        for g in [ConvCase(batch: 0, channels: 4, height: 8, width: 8, kernel: 3, stride: 1,
                           padding: 1),
                  ConvCase(batch: 0, channels: 2, height: 45, width: 41, kernel: 3, stride: 1,
                           padding: 1),
                  ConvCase(batch: 0, channels: 2, height: 7, width: 5, kernel: 3, stride: 2,
                           padding: 1),
                  ConvCase(batch: 3, channels: 0, height: 8, width: 8, kernel: 3, stride: 1,
                           padding: 1)] {
            XCTAssertEqual(im2col(g, []), [], "\(g)")
            XCTAssertEqual(col2im(g, []).images, [], "\(g)")
            XCTAssertEqual(im2row(g, []), [], "\(g)")
            XCTAssertEqual(row2im(g, []), [], "\(g)")
            XCTAssertEqual(row2im(g, [], addingTo: []), [], "\(g)")
        }
    }

    /// In the flat form (strides 1, padding that keeps the width) the bits are those of the
    /// window-by-window sums in order, -0 inputs included: on small planes, summed pixel by
    /// pixel with +0 for the offsets a pixel does not receive, and on planes whose offsets come
    /// to more than 16384 pixels, whose sums run through the pixels of the neighbouring rows,
    /// adding zeros there.
    func testCol2imSumsInWindowOrder() {
        var rng = SeededGenerator(seed: 7)
        for g in [ConvCase(batch: 2, channels: 3, height: 6, width: 5, kernel: 3, stride: 1,
                           padding: 1),
                  ConvCase(batch: 1, channels: 2, height: 45, width: 41, kernel: 3, stride: 1,
                           padding: 1)] {
            var columns = randomFloats(g.rows * g.columns, using: &rng)
            for i in stride(from: 0, to: columns.count, by: 7) { columns[i] = -0.0 }
            var expected = [Float](repeating: 0, count: g.imagesCount)
            for i in 0..<columns.count {   // rows (c, ky, kx) in order, then images, then pixels
                if let j = g.source(row: i / g.columns, column: i % g.columns) {
                    expected[j] += columns[i]
                }
            }
            assertBitwiseEqual(col2im(g, columns).images, expected, "\(g)")
        }
    }

    func testConvolutionOutputSize() {
        XCTAssertEqual(ck_conv2d_output_size(5, 3, 1, 0), 3)
        XCTAssertEqual(ck_conv2d_output_size(7, 3, 2, 1), 4)
        XCTAssertEqual(ck_conv2d_output_size(4, 5, 1, 2), 4)
        XCTAssertEqual(ck_conv2d_output_size(2, 5, 1, 1), 0)
    }

    func testConvolutionOutputMovesChannelMajorToNCHWWithTheBias() {
        var rng = SeededGenerator(seed: 3)
        for (batch, channels, pixels) in [(3, 4, 7), (1, 1, 1), (2, 5, 64)] {
            let z = randomFloats(batch * channels * pixels, using: &rng)
            let bias = randomFloats(channels, using: &rng)
            /// z's element read by y[b][c][i], y's flat index j.
            func channelMajor(_ j: Int) -> Int {
                let (b, c, i) = (j / (channels * pixels), j / pixels % channels, j % pixels)
                return (c * batch + b) * pixels + i
            }
            let y = conv2dOutput(batch: batch, channels: channels, pixels: pixels, z, bias: bias)
            assertBitwiseEqual(y, z.indices.map { z[channelMajor($0)] + bias[$0 / pixels % channels] })
            assertBitwiseEqual(conv2dOutput(batch: batch, channels: channels, pixels: pixels, z,
                                            bias: nil),
                               z.indices.map { z[channelMajor($0)] })

            let dy = randomFloats(batch * channels * pixels, using: &rng)
            let (dz, dbias) = conv2dOutputGradient(batch: batch, channels: channels,
                                                   pixels: pixels, dy, dbias: bias)
            assertBitwiseEqual(z.indices.map { dz[channelMajor($0)] }, dy)
            let sums = (0..<channels).map { c in
                Double(bias[c]) + dy.indices.filter { $0 / pixels % channels == c }
                    .reduce(0) { $0 + Double(dy[$1]) }
            }
            assertClose(dbias!, sums, tolerance: 1e-5)
            let withoutBias = conv2dOutputGradient(batch: batch, channels: channels,
                                                   pixels: pixels, dy, dbias: nil)
            assertBitwiseEqual(withoutBias.dz, dz)
        }
    }

    /// With the ReLU, each direction must give the bits of the separate kernels: the move,
    /// then ck_relu_forward; ck_relu_backward, then the move and the bias sums.
    func testConvolutionOutputFusesTheReLUBitwise() {
        var rng = SeededGenerator(seed: 4)
        for (batch, channels, pixels) in [(3, 4, 7), (1, 1, 1), (2, 5, 64), (2, 3, 19)] {
            var z = randomFloats(batch * channels * pixels, using: &rng)
            var bias = randomFloats(channels, using: &rng)
            // Sums of -0 (z and the bias -0), which the ReLU keeps, of exactly +0, and a NaN.
            bias[0] = -0.0
            z[0] = -0.0
            if z.count > 1 { z[1] = 0 }
            z[z.count - 1] = .nan
            let moved = conv2dOutput(batch: batch, channels: channels, pixels: pixels, z,
                                     bias: bias)
            var separate = moved
            ck_relu_forward(Int64(moved.count), moved, &separate)
            let y = conv2dOutput(batch: batch, channels: channels, pixels: pixels, z, bias: bias,
                                 relu: true)
            assertBitwiseEqual(y, separate)
            if z.count > 1 { XCTAssertEqual(y[0].bitPattern, (-0.0 as Float).bitPattern) }

            let dy = randomFloats(z.count, using: &rng)
            var masked = dy
            ck_relu_backward(Int64(dy.count), y, dy, &masked)
            let expected = conv2dOutputGradient(batch: batch, channels: channels,
                                                pixels: pixels, masked, dbias: bias)
            let fused = conv2dOutputGradient(batch: batch, channels: channels, pixels: pixels,
                                             dy, reluOutput: y, dbias: bias)
            assertBitwiseEqual(fused.dz, expected.dz)
            assertBitwiseEqual(fused.dbias!, expected.dbias!)
        }
    }

    /// Sizes above 2 x 32768 elements, so that two threads share the work.
    func testResultsDoNotDependOnThreadCount() {
        var rng = SeededGenerator(seed: 6)
        let conv = ConvCase(batch: 3, channels: 8, height: 41, width: 37, kernel: 3, stride: 1,
                            padding: 1)
        let images = randomFloats(conv.imagesCount, using: &rng)
        let columns = assertSameResultForThreadCounts { im2col(conv, images) }
        assertSameResultForThreadCounts { col2im(conv, columns).images }
        // im2col's planes through an inside mask, col2im's summed pixel by pixel; on 2 threads
        // im2col's ranges meet inside a row's pieces (405 pieces, 5 a row) and col2im's inside
        // a channel's planes (45 planes, 5 a channel).
        let small = ConvCase(batch: 5, channels: 9, height: 16, width: 16, kernel: 3, stride: 1,
                             padding: 1)
        let smallImages = randomFloats(small.imagesCount, using: &rng)
        let smallColumns = assertSameResultForThreadCounts([1, 2, 3]) { im2col(small, smallImages) }
        assertSameResultForThreadCounts([1, 2, 3]) { col2im(small, smallColumns).images }
        // col2im channel by channel (9 offsets of 1845 pixels: past the pixel-by-pixel table),
        // its ranges meeting inside a channel's planes (9 planes, 3 a channel).
        let large = ConvCase(batch: 3, channels: 3, height: 45, width: 41, kernel: 3, stride: 1,
                             padding: 1)
        let largeColumns = randomFloats(large.rows * large.columns, using: &rng)
        assertSameResultForThreadCounts([1, 2, 4]) { col2im(large, largeColumns).images }
        // im2row and row2im, images split between the threads.
        let rows = assertSameResultForThreadCounts([1, 2, 3]) { im2row(conv, images) }
        assertSameResultForThreadCounts([1, 2, 3]) { row2im(conv, rows) }

        let (batch, channels, pixels) = (4, 16, 1100)
        let dy = randomFloats(batch * channels * pixels, using: &rng)
        let bias = randomFloats(channels, using: &rng)
        assertSameResultForThreadCounts { () -> [Float] in
            let (dz, dbias) = conv2dOutputGradient(batch: batch, channels: channels,
                                                   pixels: pixels, dy, dbias: bias)
            return dz + dbias!
        }
        assertSameResultForThreadCounts {
            conv2dOutput(batch: batch, channels: channels, pixels: pixels, dy, bias: bias)
        }
        let reluOutput = conv2dOutput(batch: batch, channels: channels, pixels: pixels,
                                      randomFloats(dy.count, using: &rng), bias: bias, relu: true)
        assertSameResultForThreadCounts { () -> [Float] in
            let (dz, dbias) = conv2dOutputGradient(batch: batch, channels: channels,
                                                   pixels: pixels, dy, reluOutput: reluOutput,
                                                   dbias: bias)
            return dz + dbias!
        }

        // Pooling, without padding and with a ResNet stem's (3 x 3 windows, stride 2, padding 1).
        for pool in [PoolCase(planes: 24, height: 65, width: 63, kernel: 3, stride: 2, ceilMode: true),
                     PoolCase(planes: 24, height: 56, width: 57, kernel: 3, stride: 2,
                              ceilMode: false, padding: 1)] {
            let x = randomFloats(pool.planes * pool.height * pool.width, using: &rng)
            let poolDy = randomFloats(pool.planes * pool.outHeight * pool.outWidth, using: &rng)
            let argmax = maxPoolForward(pool, x).argmax
            assertSameResultForThreadCounts { maxPoolForward(pool, x).y }
            assertSameResultForThreadCounts { maxPoolBackward(pool, argmax, poolDy) }
            assertSameResultForThreadCounts { avgPool(pool, backward: false, x) }
            assertSameResultForThreadCounts { avgPool(pool, backward: true, poolDy) }
        }
    }
}
