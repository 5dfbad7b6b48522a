// ck_conv2d_forward and ck_conv2d_backward's dX and dW in the Winograd form (3x3 windows,
// stride 1, padding 1, several pieces): against the convolution's definition in Double on odd
// and tiny planes and channel counts, dW no less accurate than im2row's product, y and dX on
// planes one pixel high or wide by the products within their rounding, bitwise the same on 1
// and 2 threads, infinities where the definition has them, and the route each batch takes.
import CKernels
import DeepLearning
import XCTest

/// A batch of channels x height x width images convolved into outChannels planes by 3x3
/// kernels at stride 1 with padding 1, taken in pieces of `imagesPerPiece` images.
private struct WinogradCase: CustomStringConvertible {
    let batch, channels, outChannels, height, width, imagesPerPiece: Int
    var pixels: Int { height * width }
    var rows: Int { channels * 9 }
    var description: String {
        "\(batch) x C\(channels) → \(outChannels) \(height)x\(width), \(imagesPerPiece) a piece"
    }

    func pieces(slots: Int = 2, stride: Int = 1, pad: Int = 1, kernel: Int = 3,
                weightParts: Int = 2) -> ck_conv2d_pieces {
        ck_conv2d_pieces(
            batch: Int64(batch), channels: Int64(channels), height: Int64(height),
            width: Int64(width), out_channels: Int64(outChannels), kernel: Int64(kernel),
            stride: Int64(stride), pad: Int64(pad), images_per_piece: Int64(imagesPerPiece),
            slots: Int64(slots), weight_parts: Int64(weightParts))
    }

    /// Random images x, weights w (OIHW), bias and a channel-major dz of this case.
    func randomOperands(using rng: inout SeededGenerator)
        -> (x: [Float], w: [Float], bias: [Float], dz: [Float]) {
        (randomFloats(batch * channels * pixels, using: &rng),
         randomFloats(outChannels * rows, using: &rng), randomFloats(outChannels, using: &rng),
         randomFloats(outChannels * batch * pixels, using: &rng))
    }

    /// Σ over the inside window positions of `term(ky, kx, iy, ix)` for output pixel (oy, ox),
    /// and the sum of their magnitudes (the scale of the rounding error).
    func window(_ oy: Int, _ ox: Int, _ term: (Int, Int, Int, Int) -> Double) -> (Double, Double) {
        var (sum, scale) = (0.0, 0.0)
        for ky in 0..<3 {
            for kx in 0..<3 {
                let (iy, ix) = (oy - 1 + ky, ox - 1 + kx)
                guard (0..<height).contains(iy), (0..<width).contains(ix) else { continue }
                let t = term(ky, kx, iy, ix)
                sum += t
                scale += abs(t)
            }
        }
        return (sum, scale)
    }

    /// `window` summed over an index 0..<count (channels in or out) given to `term` first.
    func windows(_ count: Int, _ oy: Int, _ ox: Int,
                 _ term: (Int, Int, Int, Int, Int) -> Double) -> (Double, Double) {
        var (sum, scale) = (0.0, 0.0)
        for index in 0..<count {
            let (s, m) = window(oy, ox) { term(index, $0, $1, $2, $3) }
            sum += s
            scale += m
        }
        return (sum, scale)
    }

    /// `windows` of each pixel of `planes` planes an image, NCHW: over index 0..<`summed` of
    /// `term(b, plane, index, ky, kx, y, x)` for image b, each with Σ|terms|.
    func windowSums(planes: Int, summed: Int,
                    _ term: (Int, Int, Int, Int, Int, Int, Int) -> Double)
        -> [(sum: Double, scale: Double)] {
        var sums = [(sum: Double, scale: Double)]()
        for b in 0..<batch {
            for plane in 0..<planes {
                for py in 0..<height {
                    for px in 0..<width {
                        sums.append(windows(summed, py, px) { term(b, plane, $0, $1, $2, $3, $4) })
                    }
                }
            }
        }
        return sums
    }

    /// z = W ⋆ x without a bias, NCHW (batch x outChannels planes), each element with Σ|terms|.
    func definedOutput(_ x: [Float], _ w: [Float]) -> [(sum: Double, scale: Double)] {
        windowSums(planes: outChannels, summed: channels) { b, o, ch, ky, kx, iy, ix in
            Double(x[((b * channels + ch) * height + iy) * width + ix])
                * Double(w[((o * channels + ch) * 3 + ky) * 3 + kx])
        }
    }

    /// dX[b][ch][iy][ix] = Σ_o Σ dz[o][b][oy][ox] · w[o][ch][ky][kx], oy = iy + 1 - ky, from a
    /// channel-major dz, NCHW, each element with Σ|terms|.
    func definedInputGradient(_ dz: [Float], _ w: [Float]) -> [(sum: Double, scale: Double)] {
        windowSums(planes: channels, summed: outChannels) { b, ch, o, ky, kx, oy, ox in
            Double(dz[((o * batch + b) * height + oy) * width + ox])
                * Double(w[((o * channels + ch) * 3 + 2 - ky) * 3 + 2 - kx])
        }
    }
}

final class ConvolutionWinogradTests: XCTestCase {
    /// Planes of 1, 2 and odd sizes (3, 5, 7, 15), one row or column, one and prime channel
    /// counts in and out, batches of 2 in pieces of 1, a last piece shorter, and batches of 16
    /// channels (backward by rows, dW too on planes 2 pixels high and 1 pixel high).
    private let cases = [
        WinogradCase(batch: 5, channels: 3, outChannels: 2, height: 1, width: 1, imagesPerPiece: 2),
        WinogradCase(batch: 4, channels: 1, outChannels: 3, height: 2, width: 2, imagesPerPiece: 1),
        WinogradCase(batch: 3, channels: 17, outChannels: 5, height: 15, width: 17, imagesPerPiece: 2),
        WinogradCase(batch: 7, channels: 2, outChannels: 1, height: 5, width: 2, imagesPerPiece: 3),
        WinogradCase(batch: 6, channels: 16, outChannels: 19, height: 8, width: 8, imagesPerPiece: 4),
        WinogradCase(batch: 3, channels: 1, outChannels: 1, height: 3, width: 1, imagesPerPiece: 2),
        WinogradCase(batch: 2, channels: 2, outChannels: 3, height: 1, width: 7, imagesPerPiece: 1),
        WinogradCase(batch: 7, channels: 16, outChannels: 19, height: 5, width: 3, imagesPerPiece: 2),
        WinogradCase(batch: 9, channels: 7, outChannels: 11, height: 15, width: 7, imagesPerPiece: 4),
        WinogradCase(batch: 5, channels: 16, outChannels: 3, height: 2, width: 9, imagesPerPiece: 2),
        WinogradCase(batch: 5, channels: 16, outChannels: 3, height: 1, width: 9, imagesPerPiece: 2),
    ] + [(1, 1, 1, 1), (1, 3, 3, 5), (5, 1, 7, 7), (3, 2, 15, 15)].map { channels, outs, height, width in
        WinogradCase(batch: 2, channels: channels, outChannels: outs, height: height, width: width,
                     imagesPerPiece: 1)
    }

    /// y = relu(W ⋆ x + bias) through ck_conv2d_forward (without the ReLU when `relu` is
    /// false, without a bias when it is nil); no columns or product buffers in the Winograd
    /// form, which takes none.
    private func forward(_ c: WinogradCase, _ x: [Float], _ w: [Float], _ bias: [Float]?,
                         relu: Bool = true) -> [Float] {
        var p = c.pieces()
        var y = [Float](repeating: sentinel, count: c.batch * c.outChannels * c.pixels)
        guard ck_conv2d_winograd(&p) == 0 else {
            ck_conv2d_forward(&p, x, w, bias, relu ? 1 : 0, nil, nil, &y)
            return y
        }
        var columns = [Float](repeating: 0, count: 2 * c.rows * c.imagesPerPiece * c.pixels)
        var product = [Float](repeating: 0, count: 2 * c.outChannels * c.imagesPerPiece * c.pixels)
        ck_conv2d_forward(&p, x, w, bias, relu ? 1 : 0, &columns, &product, &y)
        return y
    }

    /// dX through ck_conv2d_backward from a channel-major dz (no dW), added to `dx` when
    /// `accumulate`; no columns buffers in the Winograd form, which takes none.
    private func inputGradient(_ c: WinogradCase, _ dz: [Float], _ w: [Float],
                               accumulate: Bool, into dx: [Float]) -> [Float] {
        var p = c.pieces()
        var dx = dx
        var scratch = [Float](repeating: 0, count: max(1, Int(ck_conv2d_backward_scratch(&p, 0, 1))))
        guard ck_conv2d_winograd(&p) == 0 else {
            ck_conv2d_backward(&p, nil, dz, w, nil, 0, &scratch, &dx, accumulate ? 1 : 0, nil, nil)
            return dx
        }
        var columns = [Float](repeating: 0, count: 2 * c.rows * c.imagesPerPiece * c.pixels)
        var columnGradient = columns
        ck_conv2d_backward(&p, nil, dz, w, nil, 0, &scratch, &dx, accumulate ? 1 : 0, &columns,
                           &columnGradient)
        return dx
    }

    func testForwardAndInputGradientMatchTheDefinition() {
        var rng = SeededGenerator(seed: 41)
        for c in cases {
            var p = c.pieces()
            XCTAssertEqual(ck_conv2d_winograd(&p), c.height >= 2 && c.width >= 2 ? 1 : 0,
                           "\(c) route")
            let (x, w, bias, dz) = c.randomOperands(using: &rng)
            // z = W ⋆ x, without the bias; y = relu(z + bias).
            let definedZ = c.definedOutput(x, w), definedDx = c.definedInputGradient(dz, w)
            let z = definedZ.map(\.sum), dx = definedDx.map(\.sum)
            let outBias = z.indices.map { Double(bias[$0 / c.pixels % c.outChannels]) }
            let y = zip(z, outBias).map { max(0, $0 + $1) }
            let yTolerance = zip(definedZ, outBias).map { 1e-5 * (1 + $0.scale + abs($1)) }
            let dxTolerance = definedDx.map { 1e-5 * (1 + $0.scale) }
            let gotY = assertSameResultForThreadCounts([1, 2], "\(c) y") { forward(c, x, w, bias) }
            assertClose(gotY, y, tolerance: yTolerance, "\(c) y")
            let gotZ = assertSameResultForThreadCounts([1, 2], "\(c) z") {
                forward(c, x, w, nil, relu: false)
            }
            assertClose(gotZ, z, tolerance: yTolerance, "\(c) z, no bias or ReLU")
            let written = [Float](repeating: sentinel, count: dx.count)
            let gotDx = assertSameResultForThreadCounts([1, 2], "\(c) dx") {
                inputGradient(c, dz, w, accumulate: false, into: written)
            }
            assertClose(gotDx, dx, tolerance: dxTolerance, "\(c) dx")
            // By rows (16 channels or more), dX is added to a gradient in place when asked.
            guard ck_conv2d_backward_by_rows(&p) != 0 else { continue }
            let earlier = randomFloats(dx.count, using: &rng)
            let added = assertSameResultForThreadCounts([1, 2], "\(c) dx added") {
                inputGradient(c, dz, w, accumulate: true, into: earlier)
            }
            assertClose(added, zip(dx, earlier).map { $0 + Double($1) },
                        tolerance: dxTolerance.map { $0 + 1e-6 }, "\(c) dx added")
        }
    }

    /// On planes one pixel high or wide, y and dX by the products, not the Winograd form: an
    /// output pixel's window holds at most 3 of a kernel's 9 weights a channel, a sum that the
    /// products round within as many units of rounding of Σ|terms| as it has terms, also with
    /// the weights outside the plane, which meet no pixel, 1024 times larger. The Winograd
    /// form's transforms carry those weights into every transformed element: their rounding
    /// stays in its sums.
    func testPlanesOnePixelHighOrWideTakeTheProducts() {
        var rng = SeededGenerator(seed: 47)
        for c in cases where c.height < 2 || c.width < 2 {
            var p = c.pieces()
            XCTAssertEqual(ck_conv2d_winograd(&p), 0, "\(c) route")
            let (x, random, _, dz) = c.randomOperands(using: &rng)
            // Window offsets (ky, kx) outside the plane's one row (ky != 1) or column (kx != 1).
            let large = random.indices.map { i in
                let (ky, kx) = (i % 9 / 3, i % 3)
                let outside = (c.height < 2 && ky != 1) || (c.width < 2 && kx != 1)
                return outside ? 1024 * random[i] : random[i]
            }
            for (what, w) in [("", random), (", weights outside the plane x 1024", large)] {
                let z = c.definedOutput(x, w), dx = c.definedInputGradient(dz, w)
                let gotZ = forward(c, x, w, nil, relu: false)
                let written = [Float](repeating: sentinel, count: dx.count)
                let gotDx = inputGradient(c, dz, w, accumulate: false, into: written)
                XCTAssertLessThanOrEqual(relativeError(gotZ, z.map(\.sum), z.map(\.scale)),
                                         Double(3 * c.channels) * 0x1p-24, "\(c) z\(what)")
                XCTAssertLessThanOrEqual(relativeError(gotDx, dx.map(\.sum), dx.map(\.scale)),
                                         Double(3 * c.outChannels) * 0x1p-24, "\(c) dx\(what)")
            }
        }
    }

    /// An infinity among the images, the weights or dz: the Winograd form's transforms would
    /// add it to its negative (NaN) where the definition's sum is infinite, so such a piece
    /// takes the products instead, and dW, a sum over the whole batch, is taken by rows: the
    /// same infinities and NaNs as a batch of one piece, on 1 and 2 threads, dW written and
    /// added, with dX and without, and dX added in place by rows as asked.
    func testInfinitiesGiveTheDefinitionsInfinities() {
        var rng = SeededGenerator(seed: 43)
        for c in [cases[2], cases[4], cases[3], cases[8]] {
            let onePiece = WinogradCase(batch: c.batch, channels: c.channels,
                                        outChannels: c.outChannels, height: c.height,
                                        width: c.width, imagesPerPiece: c.batch)
            var p = onePiece.pieces()
            XCTAssertEqual(ck_conv2d_winograd(&p), 0, "\(onePiece) route")
            let operands = c.randomOperands(using: &rng), bias = operands.bias
            var (x, w, dz) = (operands.x, operands.w, operands.dz)
            let finiteW = w
            // An infinite pixel in the second image; an infinite dz in the last image's plane.
            x[(1 * c.channels + c.channels - 1) * c.pixels + c.pixels / 2] = .infinity
            dz[((c.outChannels - 1) * c.batch + c.batch - 1) * c.pixels + c.pixels - 1] = -.infinity
            func assertSameSpecials(_ got: [Float], _ expected: [Float], _ what: String,
                                    tolerance: Double = 1e-4) {
                // The indices of the NaNs, and of the infinities with their signs.
                func specials(_ v: [Float]) -> [String] {
                    v.indices.filter { !v[$0].isFinite }.map { "\($0): \(v[$0])" }
                }
                XCTAssertEqual(specials(got), specials(expected), "\(c) \(what)")
                XCTAssertTrue(expected.contains { $0.isInfinite }, "\(c) \(what) has an infinity")
                let finite = zip(got, expected).filter { $0.1.isFinite }
                assertClose(finite.map(\.0), finite.map { Double($0.1) }, tolerance: tolerance,
                            "\(c) \(what)")
            }
            for (what, weights) in [("x", finiteW), ("x and w", { var v = finiteW; v[1] = .infinity; return v }())] {
                w = weights
                let got = assertSameResultForThreadCounts([1, 2], "\(c) y") { forward(c, x, w, bias) }
                assertSameSpecials(got, forward(onePiece, x, w, bias), "y, infinite \(what)")
            }
            w = finiteW
            let written = [Float](repeating: sentinel, count: x.count)
            let gotDx = assertSameResultForThreadCounts([1, 2], "\(c) dx") {
                inputGradient(c, dz, w, accumulate: false, into: written)
            }
            let expectedDx = inputGradient(onePiece, dz, w, accumulate: false, into: written)
            assertSameSpecials(gotDx, expectedDx, "dx")
            // dW sums batch · pixels terms below 1 in magnitude, in another order than the one
            // piece's: a few units of rounding of that apart.
            let dwTolerance = 1e-6 * Double(c.batch * c.pixels)
            let unwritten = [Float](repeating: sentinel, count: c.outChannels * c.rows)
            for (beta, earlier) in [(Float(0), unwritten), (1, randomFloats(unwritten.count, using: &rng))] {
                let gotDw = assertSameResultForThreadCounts([1, 2], "\(c) dW, beta \(beta)") {
                    weightGradient(c, x, dz, w, beta: beta, into: earlier)
                }
                assertSameSpecials(gotDw, weightGradient(onePiece, x, dz, w, beta: beta, into: earlier),
                                   "dW, beta \(beta)", tolerance: dwTolerance)
                let withDx = weightGradient(c, x, dz, w, beta: beta, into: earlier,
                                            withInputGradient: true)
                XCTAssertEqual(withDx.map(\.bitPattern), gotDw.map(\.bitPattern),
                               "\(c) dW with dX, beta \(beta)")
            }
            var several = c.pieces()
            guard ck_conv2d_backward_by_rows(&several) != 0 else { continue }
            let earlier = randomFloats(x.count, using: &rng)
            let added = inputGradient(c, dz, w, accumulate: true, into: earlier)
            assertSameSpecials(added, zip(expectedDx, earlier).map { $0 + $1 }, "dx added")
        }
    }

    /// dW = beta · dW + Σ dz ⋆ x through ck_conv2d_backward in `weightParts` partial sums,
    /// without dX, or with dX when `withInputGradient`; no columns buffers when dW is in the
    /// Winograd form, which takes none.
    private func weightGradient(_ c: WinogradCase, _ x: [Float], _ dz: [Float], _ w: [Float],
                                beta: Float, into dw: [Float], weightParts: Int = 2,
                                withInputGradient: Bool = false) -> [Float] {
        var p = c.pieces(weightParts: weightParts)
        var dw = dw
        let dx = withInputGradient ? 1 : 0
        var scratch = [Float](repeating: sentinel,
                              count: max(1, Int(ck_conv2d_backward_scratch(&p, 1, Int32(dx)))))
        var dxBuffer = [Float](repeating: sentinel, count: max(1, dx * x.count))
        let columnFloats = ck_conv2d_winograd_weight_gradient(&p) != 0 ? 0
            : 2 * c.rows * c.imagesPerPiece * c.pixels
        var columns = [Float](repeating: 0, count: columnFloats)
        var columnGradient = columns
        dxBuffer.withUnsafeMutableBufferPointer { dxBuffer in
            columns.withUnsafeMutableBufferPointer { columns in
                columnGradient.withUnsafeMutableBufferPointer { columnGradient in
                    ck_conv2d_backward(&p, x, dz, w, &dw, beta, &scratch,
                                       withInputGradient ? dxBuffer.baseAddress : nil, 0,
                                       columns.baseAddress, columnGradient.baseAddress)
                }
            }
        }
        return dw
    }

    /// dW of the im2row path in one partial sum: dz[:, piece] (outChannels x its pixels) ·
    /// im2row(piece) added piece by piece, in OIHW's order.
    private func weightGradientByRows(_ c: WinogradCase, _ x: [Float], _ dz: [Float]) -> [Float] {
        var byRows = [Float](repeating: 0, count: c.outChannels * c.rows)
        for first in stride(from: 0, to: c.batch, by: c.imagesPerPiece) {
            let count = min(c.imagesPerPiece, c.batch - first), n = count * c.pixels
            var rows = [Float](repeating: 0, count: n * c.rows)
            x.withUnsafeBufferPointer { x in
                ck_im2row(Int64(count), Int64(c.channels), Int64(c.height), Int64(c.width), 3, 3,
                          1, 1, 1, 1, x.baseAddress! + first * c.channels * c.pixels, &rows)
            }
            dz.withUnsafeBufferPointer { dz in
                ck_sgemm(0, 0, Int64(c.outChannels), Int64(c.rows), Int64(n), 1,
                         dz.baseAddress! + first * c.pixels, Int64(c.batch * c.pixels), rows,
                         Int64(c.rows), first == 0 ? 0 : 1, &byRows, Int64(c.rows))
            }
        }
        return (0..<c.outChannels * c.rows).map { i in
            let (o, ch, k) = (i / c.rows, i % c.rows / 9, i % 9)
            return byRows[o * c.rows + k * c.channels + ch]
        }
    }

    /// The largest error of `got` relative to Σ|terms| of each element (`scale`).
    private func relativeError(_ got: [Float], _ exact: [Double], _ scale: [Double]) -> Double {
        zip(got, zip(exact, scale)).map { g, e in
            abs(Double(g) - e.0) / max(e.1, Double(Float.leastNormalMagnitude))
        }.max() ?? 0
    }

    /// dW in the Winograd form F(3x3, 2x2) on planes of at least 3 x 3 pixels (by columns or
    /// rows on narrower ones) against its definition in Double,
    /// dW[o][c][ky][kx] = Σ_b Σ dz[o][b][oy][ox] · x[b][c][oy - 1 + ky][ox - 1 + kx]: an error
    /// relative to Σ|terms| no larger than im2row's product's, or than 8 units of rounding,
    /// written and added (beta 1 and 0.5), the same with dX, in one to three partial sums, on
    /// 1 and 2 threads alike.
    func testWeightGradientMatchesTheDefinition() {
        var rng = SeededGenerator(seed: 43)
        for c in cases {
            var p = c.pieces()
            XCTAssertEqual(ck_conv2d_winograd_weight_gradient(&p),
                           c.height >= 3 && c.width >= 3 ? 1 : 0, "\(c) route")
            let x = randomFloats(c.batch * c.channels * c.pixels, using: &rng)
            let w = randomFloats(c.outChannels * c.rows, using: &rng)
            let dz = randomFloats(c.outChannels * c.batch * c.pixels, using: &rng)
            var (dw, scale) = ([Double](), [Double]())
            for o in 0..<c.outChannels {
                for ch in 0..<c.channels {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            var (sum, magnitude) = (0.0, 0.0)
                            for b in 0..<c.batch {
                                for oy in 0..<c.height {
                                    for ox in 0..<c.width {
                                        let (iy, ix) = (oy - 1 + ky, ox - 1 + kx)
                                        guard (0..<c.height).contains(iy),
                                              (0..<c.width).contains(ix) else { continue }
                                        let t = Double(dz[((o * c.batch + b) * c.height + oy) * c.width + ox])
                                            * Double(x[((b * c.channels + ch) * c.height + iy) * c.width + ix])
                                        sum += t
                                        magnitude += abs(t)
                                    }
                                }
                            }
                            dw.append(sum)
                            scale.append(magnitude)
                        }
                    }
                }
            }
            let written = [Float](repeating: sentinel, count: dw.count)
            let got = assertSameResultForThreadCounts([1, 2], "\(c) dW") {
                weightGradient(c, x, dz, w, beta: 0, into: written)
            }
            // The bound on the error relative to Σ|terms|: im2row's, or 8 units of rounding
            // (2^-21), whichever is larger. The second is for weights of few terms (small
            // planes, one channel, a small batch), whose sum im2row takes almost exactly, while
            // the Winograd form rounds the transformed tiles, whose terms cancel in the exact
            // sum but not in their rounding: an error of a few units that varies with the
            // draws, which 8 units bounds with a margin.
            let rowsError = relativeError(weightGradientByRows(c, x, dz), dw, scale)
            let bound = max(rowsError, 0x1p-21)
            XCTAssertLessThanOrEqual(relativeError(got, dw, scale), bound, "\(c) dW")
            for parts in [1, 3] {
                let sums = assertSameResultForThreadCounts([1, 2], "\(c) dW, \(parts) parts") {
                    weightGradient(c, x, dz, w, beta: 0, into: written, weightParts: parts)
                }
                XCTAssertLessThanOrEqual(relativeError(sums, dw, scale), bound,
                                         "\(c) dW, \(parts) parts")
            }
            let withDx = weightGradient(c, x, dz, w, beta: 0, into: written, withInputGradient: true)
            XCTAssertEqual(withDx.map(\.bitPattern), got.map(\.bitPattern), "\(c) dW with dX")
            let earlier = randomFloats(dw.count, using: &rng)
            for beta: Float in [1, 0.5] {
                let added = assertSameResultForThreadCounts([1, 2], "\(c) dW, beta \(beta)") {
                    weightGradient(c, x, dz, w, beta: beta, into: earlier)
                }
                let expected = zip(earlier, got).map { beta * $0 + $1 }
                // In the Winograd form, the sum is added to beta · dW at the end; by columns,
                // the first partial sum starts from beta · dW.
                if ck_conv2d_winograd_weight_gradient(&p) != 0 {
                    XCTAssertEqual(added.map(\.bitPattern), expected.map(\.bitPattern),
                                   "\(c) dW, beta \(beta)")
                } else {
                    assertClose(added, expected.map(Double.init), tolerance: 1e-5,
                                "\(c) dW, beta \(beta)")
                }
            }
        }
    }

    /// Only 3x3 windows at stride 1 with padding 1, in several pieces with channels, on planes
    /// of at least 2 x 2 pixels, take the Winograd form, and its dW only on planes of at least
    /// 3 x 3 pixels.
    func testOtherConvolutionsTakeTheProducts() {
        let c = WinogradCase(batch: 4, channels: 3, outChannels: 2, height: 6, width: 6,
                             imagesPerPiece: 2)
        var several = c.pieces()
        var onePiece = WinogradCase(batch: 4, channels: 3, outChannels: 2, height: 6, width: 6,
                                    imagesPerPiece: 4).pieces()
        var strided = c.pieces(stride: 2), unpadded = c.pieces(pad: 0), wide = c.pieces(kernel: 5)
        var noChannels = WinogradCase(batch: 4, channels: 0, outChannels: 2, height: 6, width: 6,
                                      imagesPerPiece: 2).pieces()
        XCTAssertEqual(ck_conv2d_winograd(&several), 1)
        XCTAssertEqual(ck_conv2d_winograd(&onePiece), 0)
        XCTAssertEqual(ck_conv2d_winograd(&strided), 0)
        XCTAssertEqual(ck_conv2d_winograd(&unpadded), 0)
        XCTAssertEqual(ck_conv2d_winograd(&wide), 0)
        XCTAssertEqual(ck_conv2d_winograd(&noChannels), 0)
        for (height, width, route) in [(1, 1, 0), (1, 6, 0), (6, 1, 0), (2, 2, 1), (2, 6, 1)] {
            var plane = WinogradCase(batch: 4, channels: 3, outChannels: 2, height: height,
                                     width: width, imagesPerPiece: 2).pieces()
            XCTAssertEqual(ck_conv2d_winograd(&plane), Int32(route), "\(height) x \(width)")
        }
        // dW only on planes of at least 3 x 3 pixels.
        var narrow = WinogradCase(batch: 4, channels: 3, outChannels: 2, height: 6, width: 2,
                                  imagesPerPiece: 2).pieces()
        XCTAssertEqual(ck_conv2d_winograd(&narrow), 1)
        XCTAssertEqual(ck_conv2d_winograd_weight_gradient(&narrow), 0)
        XCTAssertEqual(ck_conv2d_winograd_weight_gradient(&several), 1)
        for var other in [onePiece, strided, unpadded, wide, noChannels] {
            XCTAssertEqual(ck_conv2d_winograd_weight_gradient(&other), 0)
        }
    }
}
