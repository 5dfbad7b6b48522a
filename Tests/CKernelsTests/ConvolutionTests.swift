// The convolution and pooling kernels (im2col, col2im, per-channel bias, max and average
// pooling) against plain Swift loops, on odd sizes and on sizes that go parallel.
import CKernels
import DeepLearning
import XCTest

/// A convolution's geometry: channels x height x width images, square kernel, stride, padding.
private struct ConvCase: CustomStringConvertible {
    let channels, height, width, kernel, stride, padding: Int
    var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    var rows: Int { channels * kernel * kernel }
    var pixels: Int { outHeight * outWidth }
    var imageCount: Int { channels * height * width }
    var description: String {
        "C\(channels) \(height)x\(width) k\(kernel) s\(stride) p\(padding)"
    }

    /// The image position columns[row][pixel] reads, or nil in the padding.
    func source(row: Int, pixel: Int) -> Int? {
        let (c, ky, kx) = (row / (kernel * kernel), row / kernel % kernel, row % kernel)
        let iy = pixel / outWidth * stride - padding + ky
        let ix = pixel % outWidth * stride - padding + kx
        guard (0..<height).contains(iy), (0..<width).contains(ix) else { return nil }
        return (c * height + iy) * width + ix
    }
}

private let convCases = [
    ConvCase(channels: 1, height: 5, width: 7, kernel: 3, stride: 1, padding: 0),
    ConvCase(channels: 2, height: 7, width: 5, kernel: 3, stride: 2, padding: 1),
    ConvCase(channels: 3, height: 6, width: 9, kernel: 5, stride: 1, padding: 2),
    ConvCase(channels: 2, height: 5, width: 5, kernel: 1, stride: 2, padding: 0),
    ConvCase(channels: 1, height: 4, width: 3, kernel: 5, stride: 1, padding: 2),
    ConvCase(channels: 2, height: 9, width: 8, kernel: 3, stride: 2, padding: 2),
    ConvCase(channels: 3, height: 8, width: 7, kernel: 5, stride: 2, padding: 1),
    ConvCase(channels: 1, height: 3, width: 11, kernel: 1, stride: 1, padding: 1),
]

/// ck_im2col (image to columns) or ck_col2im (columns to image), which share a signature,
/// into a buffer that starts as NaN.
private func transfer(
    _ g: ConvCase, _ kernel: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64,
                              UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void,
    _ input: [Float], outputCount: Int
) -> [Float] {
    var output = [Float](repeating: sentinel, count: outputCount)
    input.withUnsafeBufferPointer { i in
        output.withUnsafeMutableBufferPointer { o in
            kernel(Int64(g.channels), Int64(g.height), Int64(g.width), Int64(g.kernel),
                   Int64(g.kernel), Int64(g.stride), Int64(g.stride), Int64(g.padding),
                   Int64(g.padding), i.baseAddress, o.baseAddress)
        }
    }
    return output
}

private func im2col(_ g: ConvCase, _ image: [Float]) -> [Float] {
    transfer(g, ck_im2col, image, outputCount: g.rows * g.pixels)
}

private func col2im(_ g: ConvCase, _ columns: [Float]) -> [Float] {
    transfer(g, ck_col2im, columns, outputCount: g.imageCount)
}

/// Pooling geometry over `planes` planes of height x width.
private struct PoolCase: CustomStringConvertible {
    let planes, height, width, kernel, stride: Int
    let ceilMode: Bool
    /// PyTorch's output size without padding, computed independently of the kernel.
    private func windows(_ size: Int) -> Int {
        let span = Double(size - kernel) / Double(stride)
        var count = Int(ceilMode ? span.rounded(.up) : span.rounded(.down)) + 1
        if ceilMode && (count - 1) * stride >= size { count -= 1 }
        return count
    }
    var outHeight: Int { windows(height) }
    var outWidth: Int { windows(width) }
    var description: String {
        "\(planes) planes \(height)x\(width) k\(kernel) s\(stride)\(ceilMode ? " ceil" : "")"
    }

    /// The input indices (within the plane) of output o's window, row-major.
    func window(_ o: Int) -> [Int] {
        let (oy, ox) = (o / outWidth, o % outWidth)
        return (oy * stride..<min(oy * stride + kernel, height)).flatMap { iy in
            (ox * stride..<min(ox * stride + kernel, width)).map { iy * width + $0 }
        }
    }
}

private let poolCases = [
    PoolCase(planes: 3, height: 5, width: 5, kernel: 2, stride: 2, ceilMode: false),
    PoolCase(planes: 3, height: 5, width: 5, kernel: 2, stride: 2, ceilMode: true),
    PoolCase(planes: 2, height: 7, width: 6, kernel: 3, stride: 2, ceilMode: true),
    PoolCase(planes: 2, height: 7, width: 9, kernel: 3, stride: 2, ceilMode: false),
    PoolCase(planes: 1, height: 5, width: 8, kernel: 1, stride: 3, ceilMode: true),
    PoolCase(planes: 2, height: 6, width: 7, kernel: 3, stride: 1, ceilMode: true),
    PoolCase(planes: 1, height: 9, width: 4, kernel: 4, stride: 3, ceilMode: true),
]

private func maxPoolForward(_ g: PoolCase, _ x: [Float]) -> (y: [Float], argmax: [Int64]) {
    let count = g.planes * g.outHeight * g.outWidth
    var y = [Float](repeating: sentinel, count: count), argmax = [Int64](repeating: -1, count: count)
    x.withUnsafeBufferPointer { xs in
        y.withUnsafeMutableBufferPointer { ys in
            argmax.withUnsafeMutableBufferPointer { a in
                ck_max_pool2d_forward(Int64(g.planes), Int64(g.height), Int64(g.width),
                                      Int64(g.kernel), Int64(g.kernel), Int64(g.stride),
                                      Int64(g.stride), Int64(g.outHeight), Int64(g.outWidth),
                                      xs.baseAddress, ys.baseAddress, a.baseAddress)
            }
        }
    }
    return (y, argmax)
}

private func maxPoolBackward(_ g: PoolCase, _ argmax: [Int64], _ dy: [Float]) -> [Float] {
    var dx = [Float](repeating: sentinel, count: g.planes * g.height * g.width)
    argmax.withUnsafeBufferPointer { a in
        dy.withUnsafeBufferPointer { dys in
            dx.withUnsafeMutableBufferPointer {
                ck_max_pool2d_backward(Int64(g.planes), Int64(g.height), Int64(g.width),
                                       Int64(g.outHeight), Int64(g.outWidth), a.baseAddress,
                                       dys.baseAddress, $0.baseAddress)
            }
        }
    }
    return dx
}

private func avgPool(_ g: PoolCase, backward: Bool, _ input: [Float]) -> [Float] {
    let (inCount, outCount) = (g.planes * g.height * g.width, g.planes * g.outHeight * g.outWidth)
    var result = [Float](repeating: sentinel, count: backward ? inCount : outCount)
    let args = (Int64(g.planes), Int64(g.height), Int64(g.width), Int64(g.kernel), Int64(g.stride),
                Int64(g.outHeight), Int64(g.outWidth))
    input.withUnsafeBufferPointer { i in
        result.withUnsafeMutableBufferPointer { r in
            let kernel = backward ? ck_avg_pool2d_backward : ck_avg_pool2d_forward
            kernel(args.0, args.1, args.2, args.3, args.3, args.4, args.4, args.5, args.6,
                   i.baseAddress, r.baseAddress)
        }
    }
    return result
}

final class ConvolutionTests: XCTestCase {
    func testIm2colCopiesEachWindowWithZeroPadding() {
        var rng = SeededGenerator(seed: 1)
        for g in convCases {
            let image = randomFloats(g.imageCount, using: &rng)
            let expected = (0..<g.rows * g.pixels).map { i in
                g.source(row: i / g.pixels, pixel: i % g.pixels).map { image[$0] } ?? 0
            }
            assertBitwiseEqual(im2col(g, image), expected, "\(g)")
        }
    }

    func testCol2imSumsEveryWindowIntoTheImage() {
        var rng = SeededGenerator(seed: 2)
        for g in convCases {
            let columns = randomFloats(g.rows * g.pixels, using: &rng)
            var expected = [Double](repeating: 0, count: g.imageCount)
            for i in 0..<columns.count {
                if let j = g.source(row: i / g.pixels, pixel: i % g.pixels) {
                    expected[j] += Double(columns[i])
                }
            }
            assertClose(col2im(g, columns), expected, tolerance: 1e-5, "\(g)")
        }
    }

    func testConvolutionOutputSize() {
        XCTAssertEqual(ck_conv2d_output_size(5, 3, 1, 0), 3)
        XCTAssertEqual(ck_conv2d_output_size(7, 3, 2, 1), 4)
        XCTAssertEqual(ck_conv2d_output_size(4, 5, 1, 2), 4)
        XCTAssertEqual(ck_conv2d_output_size(2, 5, 1, 1), 0)
    }

    func testPoolOutputSizeFollowsPyTorch() {
        for g in poolCases {
            XCTAssertEqual(ck_pool2d_output_size(Int64(g.height), Int64(g.kernel), Int64(g.stride),
                                                 g.ceilMode ? 1 : 0), Int64(g.outHeight), "\(g)")
        }
        XCTAssertEqual(ck_pool2d_output_size(5, 1, 3, 1), 2) // a third window would start at 6
        XCTAssertEqual(ck_pool2d_output_size(5, 2, 2, 0), 2)
        XCTAssertEqual(ck_pool2d_output_size(5, 2, 2, 1), 3)
        XCTAssertEqual(ck_pool2d_output_size(1, 2, 2, 1), 0)
    }

    func testChannelBiasAddAndGradient() {
        var rng = SeededGenerator(seed: 3)
        let (batch, channels, pixels) = (3, 4, 7)
        let x = randomFloats(batch * channels * pixels, using: &rng)
        let bias = randomFloats(channels, using: &rng)
        var y = x
        y.withUnsafeMutableBufferPointer { ys in
            bias.withUnsafeBufferPointer {
                ck_channel_bias_add(Int64(batch), Int64(channels), Int64(pixels), ys.baseAddress,
                                    $0.baseAddress)
            }
        }
        assertBitwiseEqual(y, x.indices.map { x[$0] + bias[$0 / pixels % channels] })
        var dbias = bias
        x.withUnsafeBufferPointer { xs in
            dbias.withUnsafeMutableBufferPointer {
                ck_channel_bias_grad(Int64(batch), Int64(channels), Int64(pixels), xs.baseAddress,
                                     $0.baseAddress)
            }
        }
        let sums = (0..<channels).map { c in
            Double(bias[c]) + x.indices.filter { $0 / pixels % channels == c }
                .reduce(0) { $0 + Double(x[$1]) }
        }
        assertClose(dbias, sums, tolerance: 1e-5)
    }

    func testMaxPoolForwardAndBackwardWithPartialWindows() {
        var rng = SeededGenerator(seed: 4)
        for g in poolCases {
            // Few distinct values, so that windows hold ties: the first maximum wins.
            let x = randomFloats(g.planes * g.height * g.width, using: &rng).map { ($0 * 3).rounded() }
            let dy = randomFloats(g.planes * g.outHeight * g.outWidth, using: &rng)
            let (inSize, outSize) = (g.height * g.width, g.outHeight * g.outWidth)
            var expectedY = [Float](), expectedArgmax = [Int64]()
            var expectedDx = [Double](repeating: 0, count: x.count)
            for p in 0..<g.planes {
                for o in 0..<outSize {
                    let window = g.window(o)
                    let best = window.reduce(window[0]) { x[p * inSize + $1] > x[p * inSize + $0] ? $1 : $0 }
                    expectedY.append(x[p * inSize + best])
                    expectedArgmax.append(Int64(best))
                    expectedDx[p * inSize + best] += Double(dy[p * outSize + o])
                }
            }
            let (y, argmax) = maxPoolForward(g, x)
            assertBitwiseEqual(y, expectedY, "\(g)")
            XCTAssertEqual(argmax, expectedArgmax, "\(g)")
            assertClose(maxPoolBackward(g, argmax, dy), expectedDx, tolerance: 1e-6, "\(g)")
        }
    }

    func testMaxPoolPropagatesNaN() {
        let g = PoolCase(planes: 1, height: 2, width: 2, kernel: 2, stride: 2, ceilMode: false)
        let (y, argmax) = maxPoolForward(g, [1, .nan, 5, .nan])
        XCTAssertTrue(y[0].isNaN)
        XCTAssertEqual(argmax, [1])
    }

    func testAvgPoolForwardAndBackwardWithPartialWindows() {
        var rng = SeededGenerator(seed: 5)
        for g in poolCases {
            let x = randomFloats(g.planes * g.height * g.width, using: &rng)
            let dy = randomFloats(g.planes * g.outHeight * g.outWidth, using: &rng)
            let (inSize, outSize) = (g.height * g.width, g.outHeight * g.outWidth)
            var expectedY = [Double](), expectedDx = [Double](repeating: 0, count: x.count)
            for p in 0..<g.planes {
                for o in 0..<outSize {
                    let window = g.window(o)
                    expectedY.append(window.reduce(0) { $0 + Double(x[p * inSize + $1]) }
                                     / Double(window.count))
                    for i in window { expectedDx[p * inSize + i] += Double(dy[p * outSize + o]) / Double(window.count) }
                }
            }
            assertClose(avgPool(g, backward: false, x), expectedY, tolerance: 1e-6, "\(g)")
            assertClose(avgPool(g, backward: true, dy), expectedDx, tolerance: 1e-6, "\(g)")
        }
    }

    /// PyTorch 2: avg_pool2d(arange(25).reshape(1, 1, 5, 5), 2, 2, ceil_mode=True) divides the
    /// partial windows by their clipped size.
    func testAvgPoolCeilModeMatchesPyTorch() {
        let g = PoolCase(planes: 1, height: 5, width: 5, kernel: 2, stride: 2, ceilMode: true)
        XCTAssertEqual(avgPool(g, backward: false, (0..<25).map(Float.init)),
                       [3, 5, 6.5, 13, 15, 16.5, 20.5, 22.5, 24])
    }

    /// Sizes above 2 x 32768 elements, so that two threads share the work.
    func testResultsDoNotDependOnThreadCount() {
        var rng = SeededGenerator(seed: 6)
        let conv = ConvCase(channels: 8, height: 41, width: 37, kernel: 3, stride: 1, padding: 1)
        let image = randomFloats(conv.imageCount, using: &rng)
        let columns = assertSameResultForThreadCounts { im2col(conv, image) }
        assertSameResultForThreadCounts { col2im(conv, columns) }

        let (batch, channels, pixels) = (4, 16, 1100)
        let dy = randomFloats(batch * channels * pixels, using: &rng)
        assertSameResultForThreadCounts { () -> [Float] in
            var dbias = [Float](repeating: 0.5, count: channels)
            dy.withUnsafeBufferPointer { d in
                dbias.withUnsafeMutableBufferPointer {
                    ck_channel_bias_grad(Int64(batch), Int64(channels), Int64(pixels),
                                         d.baseAddress, $0.baseAddress)
                }
            }
            return dbias
        }
        assertSameResultForThreadCounts { () -> [Float] in
            var x = dy
            x.withUnsafeMutableBufferPointer { xs in
                [Float](repeating: 0.25, count: channels).withUnsafeBufferPointer {
                    ck_channel_bias_add(Int64(batch), Int64(channels), Int64(pixels),
                                        xs.baseAddress, $0.baseAddress)
                }
            }
            return x
        }

        let pool = PoolCase(planes: 24, height: 65, width: 63, kernel: 3, stride: 2, ceilMode: true)
        let x = randomFloats(pool.planes * pool.height * pool.width, using: &rng)
        let poolDy = randomFloats(pool.planes * pool.outHeight * pool.outWidth, using: &rng)
        let argmax = maxPoolForward(pool, x).argmax
        assertSameResultForThreadCounts { maxPoolForward(pool, x).y }
        assertSameResultForThreadCounts { maxPoolBackward(pool, argmax, poolDy) }
        assertSameResultForThreadCounts { avgPool(pool, backward: false, x) }
        assertSameResultForThreadCounts { avgPool(pool, backward: true, poolDy) }
    }
}
