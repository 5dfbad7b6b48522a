// The pooling kernels (max and average pooling, forward and backward, PyTorch's output sizes,
// padding and ceil mode) against plain Swift loops, on odd sizes and partial windows. Their
// results on several threads: ConvolutionTests.testResultsDoNotDependOnThreadCount.
import CKernels
import DeepLearning
import XCTest

/// Pooling geometry over `planes` planes of height x width, padded by `padding` on each side;
/// `countsPadding`: average pooling divides by the window's size within the padded plane.
struct PoolCase: CustomStringConvertible {
    let planes, height, width, kernel, stride: Int
    let ceilMode: Bool
    var padding = 0
    var countsPadding = true
    /// PyTorch's output size, computed independently of the kernel.
    private func windows(_ size: Int) -> Int {
        let span = Double(size + 2 * padding - kernel) / Double(stride)
        var count = Int(ceilMode ? span.rounded(.up) : span.rounded(.down)) + 1
        if ceilMode && (count - 1) * stride >= size + padding { count -= 1 }
        return count
    }
    var outHeight: Int { windows(height) }
    var outWidth: Int { windows(width) }
    var description: String {
        "\(planes) planes \(height)x\(width) k\(kernel) s\(stride) p\(padding)"
            + (ceilMode ? " ceil" : "") + (countsPadding ? "" : " padding not counted")
    }

    /// Output o's window along a dimension of `size`: its positions within the padded
    /// dimension and those inside the dimension.
    private func span(_ o: Int, _ size: Int) -> (padded: Range<Int>, inside: Range<Int>) {
        let start = o * stride - padding
        let padded = start..<min(start + kernel, size + padding)
        return (padded, padded.clamped(to: 0..<size))
    }

    /// The input indices (within the plane) of output o's window, row-major.
    func window(_ o: Int) -> [Int] {
        let (rows, columns) = (span(o / outWidth, height).inside, span(o % outWidth, width).inside)
        return rows.flatMap { iy in columns.map { iy * width + $0 } }
    }

    /// The size average pooling divides output o's window by.
    func divisor(_ o: Int) -> Int {
        guard countsPadding else { return window(o).count }
        return span(o / outWidth, height).padded.count * span(o % outWidth, width).padded.count
    }
}

let poolCases = [
    PoolCase(planes: 3, height: 5, width: 5, kernel: 2, stride: 2, ceilMode: false),
    PoolCase(planes: 3, height: 5, width: 5, kernel: 2, stride: 2, ceilMode: true),
    PoolCase(planes: 2, height: 7, width: 6, kernel: 3, stride: 2, ceilMode: true),
    PoolCase(planes: 2, height: 7, width: 9, kernel: 3, stride: 2, ceilMode: false),
    PoolCase(planes: 1, height: 5, width: 8, kernel: 1, stride: 3, ceilMode: true),
    PoolCase(planes: 2, height: 6, width: 7, kernel: 3, stride: 1, ceilMode: true),
    PoolCase(planes: 1, height: 9, width: 4, kernel: 4, stride: 3, ceilMode: true),
    // A plane smaller than the window: ceil mode's one window, clipped to it, as PyTorch's.
    PoolCase(planes: 2, height: 3, width: 2, kernel: 4, stride: 3, ceilMode: true),
    // Rows of more windows than the kernel takes at once, and rows of 4 to 7 (half as many
    // at once), the last group overlapping the one before: the common 2 x 2 pooling, a
    // clipped last window (ceil_mode), overlapping windows, and strides other than 2.
    PoolCase(planes: 2, height: 4, width: 14, kernel: 2, stride: 2, ceilMode: false),
    PoolCase(planes: 1, height: 5, width: 13, kernel: 2, stride: 2, ceilMode: true),
    PoolCase(planes: 2, height: 6, width: 70, kernel: 2, stride: 2, ceilMode: false),
    PoolCase(planes: 2, height: 5, width: 41, kernel: 2, stride: 2, ceilMode: true),
    PoolCase(planes: 1, height: 7, width: 39, kernel: 3, stride: 2, ceilMode: true),
    PoolCase(planes: 1, height: 4, width: 37, kernel: 2, stride: 1, ceilMode: false),
    PoolCase(planes: 2, height: 6, width: 55, kernel: 3, stride: 3, ceilMode: true),
] + [
    // Padding, up to half the kernel: partial windows at every edge, a last window of ceil
    // mode that would start in the padding (dropped), planes of one row or column, and rows
    // whose whole windows (in groups) begin after the first output; then average pooling
    // dividing by the elements inside the plane (max pooling: the same). (planes, height,
    // width, kernel, stride, ceil mode, padding, padding counted.)
    (2, 7, 7, 3, 2, false, 1, true), (2, 6, 6, 3, 2, true, 1, true), (1, 9, 9, 2, 2, true, 1, true),
    (2, 6, 6, 4, 3, true, 2, true), (1, 8, 7, 4, 3, false, 2, true), (3, 1, 9, 3, 1, false, 1, true),
    (1, 10, 1, 3, 3, true, 1, true), (1, 2, 2, 5, 3, true, 2, true), (2, 5, 40, 3, 2, false, 1, true),
    (1, 4, 56, 3, 2, true, 1, true), (1, 5, 13, 2, 1, true, 1, true), (2, 7, 47, 5, 3, true, 2, true),
    (1, 6, 33, 7, 1, false, 3, true),
    (2, 7, 7, 3, 2, true, 1, false), (2, 6, 6, 4, 3, true, 2, false), (1, 5, 40, 3, 2, false, 1, false),
    (2, 1, 11, 2, 2, true, 1, false),
].map { PoolCase(planes: $0.0, height: $0.1, width: $0.2, kernel: $0.3, stride: $0.4,
                 ceilMode: $0.5, padding: $0.6, countsPadding: $0.7) }

func maxPoolForward(_ g: PoolCase, _ x: [Float]) -> (y: [Float], argmax: [Int64]) {
    let count = g.planes * g.outHeight * g.outWidth
    var y = [Float](repeating: sentinel, count: count), argmax = [Int64](repeating: -1, count: count)
    x.withUnsafeBufferPointer { xs in
        y.withUnsafeMutableBufferPointer { ys in
            argmax.withUnsafeMutableBufferPointer { a in
                ck_max_pool2d_forward(Int64(g.planes), Int64(g.height), Int64(g.width),
                                      Int64(g.kernel), Int64(g.kernel), Int64(g.stride),
                                      Int64(g.stride), Int64(g.padding), Int64(g.padding),
                                      Int64(g.outHeight), Int64(g.outWidth), xs.baseAddress,
                                      ys.baseAddress, a.baseAddress)
            }
        }
    }
    return (y, argmax)
}

func maxPoolBackward(_ g: PoolCase, _ argmax: [Int64], _ dy: [Float]) -> [Float] {
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

func avgPool(_ g: PoolCase, backward: Bool, _ input: [Float]) -> [Float] {
    let (inCount, outCount) = (g.planes * g.height * g.width, g.planes * g.outHeight * g.outWidth)
    var result = [Float](repeating: sentinel, count: backward ? inCount : outCount)
    let args = (Int64(g.planes), Int64(g.height), Int64(g.width), Int64(g.kernel), Int64(g.stride),
                Int64(g.padding), Int32(g.countsPadding ? 1 : 0), Int64(g.outHeight),
                Int64(g.outWidth))
    input.withUnsafeBufferPointer { i in
        result.withUnsafeMutableBufferPointer { r in
            let kernel = backward ? ck_avg_pool2d_backward : ck_avg_pool2d_forward
            kernel(args.0, args.1, args.2, args.3, args.3, args.4, args.4, args.5, args.5, args.6,
                   args.7, args.8, i.baseAddress, r.baseAddress)
        }
    }
    return result
}

final class PoolingKernelTests: XCTestCase {
    func testPoolOutputSizeFollowsPyTorch() {
        for g in poolCases {
            for (size, out) in [(g.height, g.outHeight), (g.width, g.outWidth)] {
                XCTAssertEqual(ck_pool2d_output_size(Int64(size), Int64(g.kernel), Int64(g.stride),
                                                     Int64(g.padding), g.ceilMode ? 1 : 0),
                               Int64(out), "\(g)")
            }
        }
        // (size, kernel, stride, padding, ceil mode, windows).
        let sizes: [(Int64, Int64, Int64, Int64, Int32, Int64)] = [
            (5, 1, 3, 0, 1, 2), // a third window would start at 6
            (5, 2, 2, 0, 0, 2), (5, 2, 2, 0, 1, 3),
            // Smaller than the window: PyTorch's ceil mode keeps one window when kernel - size
            // < stride (max_pool2d(ceil_mode=True) of 1 x 1 with kernel 2 is 1 x 1), else none.
            (1, 2, 2, 0, 1, 1), (1, 3, 3, 0, 1, 1), (1, 3, 2, 0, 1, 0), (2, 3, 1, 0, 1, 0),
            (1, 2, 2, 0, 0, 0),
            // A stride near Int64.max: the second window would start beyond the input.
            (5, 2, .max, 0, 1, 1), (5, 2, .max, 0, 0, 1),
            // With padding, PyTorch 2's sizes (max_pool2d of size x size): a ResNet's stem,
            // 3 x 3 windows, stride 2, padding 1; ceil mode's extra window kept (6) and dropped
            // where it would start in the padding (9, 5, 4).
            (112, 3, 2, 1, 0, 56), (56, 3, 2, 1, 0, 28), (6, 3, 2, 1, 1, 4), (9, 2, 2, 1, 1, 5),
            (5, 2, 2, 1, 1, 3), (4, 2, 3, 1, 1, 2), (2, 5, 3, 2, 1, 2), (1, 3, 3, 1, 1, 1),
            (7, 4, 2, 2, 1, 5), (8, 4, 3, 2, 1, 4),
            // Padding beyond half the kernel, or negative: no windows (PyTorch refuses it).
            (5, 3, 1, 2, 0, 0), (5, 3, 1, -1, 0, 0),
            // The largest sizes, kernel and padding: no overflow (UBSan).
            (.max, .max, 1, .max / 2, 1, .max), (.max, .max, 2, .max / 2, 1, .max / 2 + 1),
        ]
        for (size, kernel, stride, padding, ceilMode, windows) in sizes {
            XCTAssertEqual(ck_pool2d_output_size(size, kernel, stride, padding, ceilMode), windows,
                           "size \(size), kernel \(kernel), stride \(stride), padding \(padding)"
                           + (ceilMode != 0 ? ", ceil mode" : ""))
        }
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

    /// The rule in every window of every case: the first NaN in the window's order (rows,
    /// then columns) is the maximum, else the first largest value. (PyTorch's max_pool2d
    /// takes the last NaN.)
    func testMaxPoolTakesTheFirstNaNInEveryWindow() {
        var rng = SeededGenerator(seed: 6)
        for g in poolCases {
            let x = randomFloats(g.planes * g.height * g.width, using: &rng).map {
                $0 > 0.8 ? Float.nan : ($0 * 3).rounded()
            }
            let (inSize, outSize) = (g.height * g.width, g.outHeight * g.outWidth)
            var expectedArgmax = [Int64]()
            for p in 0..<g.planes {
                for o in 0..<outSize {
                    let values = g.window(o).map { ($0, x[p * inSize + $0]) }
                    let best = values.first(where: { $0.1.isNaN })
                        ?? values.reduce(values[0]) { $1.1 > $0.1 ? $1 : $0 }
                    expectedArgmax.append(Int64(best.0))
                }
            }
            let (y, argmax) = maxPoolForward(g, x)
            XCTAssertEqual(argmax, expectedArgmax, "\(g)")
            let planeOf = { (i: Int) in i / outSize * inSize }
            assertBitwiseEqual(y, argmax.indices.map { x[planeOf($0) + Int(argmax[$0])] }, "\(g)")
        }
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
                    let divisor = Double(g.divisor(o))
                    expectedY.append(window.reduce(0) { $0 + Double(x[p * inSize + $1]) } / divisor)
                    for i in window {
                        expectedDx[p * inSize + i] += Double(dy[p * outSize + o]) / divisor
                    }
                }
            }
            let y = avgPool(g, backward: false, x)
            assertClose(y, expectedY, tolerance: 1e-6, "\(g)")
            assertClose(avgPool(g, backward: true, dy), expectedDx, tolerance: 1e-6, "\(g)")
            // The contract's order: each window's sum in Double from +0, row by row, then
            // divided by its size and rounded to Float, whole windows taken in groups or not.
            assertBitwiseEqual(y, expectedY.map { Float($0) }, "\(g)")
        }
    }

    /// PyTorch 2: avg_pool2d(arange(25).reshape(1, 1, 5, 5), 2, 2, ceil_mode=True) divides the
    /// partial windows by their clipped size.
    func testAvgPoolCeilModeMatchesPyTorch() {
        let g = PoolCase(planes: 1, height: 5, width: 5, kernel: 2, stride: 2, ceilMode: true)
        XCTAssertEqual(avgPool(g, backward: false, (0..<25).map(Float.init)),
                       [3, 5, 6.5, 13, 15, 16.5, 20.5, 22.5, 24])
    }
}
