import XCTest
@testable import DeepLearning

/// Conv2D, MaxPool2D and AvgPool2D: forward against naive loops and PyTorch, backward against
/// finite differences, and a small CNN that learns.
final class ConvolutionLayerTests: XCTestCase {
    /// The convolution as its definition, in Double: y[b][o][oy][ox] = bias[o] +
    /// Σ x[b][c][oy·s − p + ky][ox·s − p + kx] · w[o][c][ky][kx] over the positions inside x.
    private func directConvolution(_ layer: Conv2D, _ x: Tensor) -> (shape: [Int], values: [Double]) {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, s, p, outC) = (layer.kernelSize, layer.stride, layer.padding, layer.outputChannels)
        let outH = (height + 2 * p - k) / s + 1, outW = (width + 2 * p - k) / s + 1
        let (xv, wv, bv) = (x.values, layer.weight.values, layer.bias.values)
        var y = [Double]()
        for b in 0..<batch {
            for o in 0..<outC {
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        var sum = Double(bv[o])
                        for c in 0..<channels {
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let (iy, ix) = (oy * s - p + ky, ox * s - p + kx)
                                    guard (0..<height).contains(iy), (0..<width).contains(ix) else { continue }
                                    sum += Double(xv[((b * channels + c) * height + iy) * width + ix])
                                        * Double(wv[((o * channels + c) * k + ky) * k + kx])
                                }
                            }
                        }
                        y.append(sum)
                    }
                }
            }
        }
        return ([batch, outC, outH, outW], y)
    }

    /// (batch, inC, outC, height, width, kernel, stride, padding).
    private let convCases = [
        (1, 1, 1, 5, 5, 3, 1, 0), (2, 3, 4, 7, 5, 3, 2, 1), (2, 2, 3, 6, 9, 5, 1, 2),
        (3, 2, 2, 5, 5, 1, 2, 0), (1, 3, 2, 8, 7, 3, 2, 2), (2, 1, 3, 4, 3, 5, 1, 2),
    ]

    /// Each case's layer (random biases) and a random input for it.
    private func convLayersAndInputs(using generator: inout SeededGenerator) -> [(Conv2D, Tensor)] {
        convCases.map { batch, inC, outC, h, w, k, s, p in
            (Conv2D(inputChannels: inC, outputChannels: outC, kernelSize: k, stride: s, padding: p,
                    biasInitializer: .uniform(low: -1, high: 1), seed: UInt64(h * w)),
             randomTensor([batch, inC, h, w], using: &generator))
        }
    }

    func testConv2DForwardMatchesDirectConvolution() {
        var generator = SeededGenerator(seed: 1)
        for (layer, x) in convLayersAndInputs(using: &generator) {
            let expected = directConvolution(layer, x)
            let y = layer.forward(x)
            XCTAssertEqual(y.shape, expected.shape, "\(layer)")
            assertClose(y.values, expected.values, tolerance: 1e-5, "\(layer) y")
        }
    }

    func testConv2DBackwardMatchesFiniteDifferences() {
        var generator = SeededGenerator(seed: 3)
        for (layer, x) in convLayersAndInputs(using: &generator) {
            let dy = randomTensor(layer.forward(x).shape, using: &generator)
            let loss = { weightedSum(layer.forward(x), dy) }
            _ = layer.forward(x)
            let dx = layer.backward(dy).values
            for (name, tensor, got) in [("dx", x, dx), ("dW", layer.weight, layer.weight.gradients),
                                        ("db", layer.bias, layer.bias.gradients)] {
                assertClose(got, numericalGradient(of: loss, at: tensor.value, count: tensor.count),
                            tolerance: 1e-3, "\(layer) \(name)")
            }
            // A second backward accumulates: the parameter gradients double.
            let once = layer.weight.gradients + layer.bias.gradients
            layer.accumulateParameterGradients(dy)
            assertClose(layer.weight.gradients + layer.bias.gradients, once.map { 2 * Double($0) },
                        tolerance: 1e-6, "\(layer) accumulated")
        }
    }

    /// PyTorch 2: conv2d(x, w, b, stride=2, padding=1) with x[i] = sin(0.7 i) of shape
    /// [1, 2, 5, 4], w[i] = 0.5 cos(0.3 i) of shape [3, 2, 3, 3], b = [0.1, -0.2, 0.3], then
    /// backward of dy[i] = cos(1.1 i).
    func testConv2DMatchesPyTorch() {
        let layer = Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1)
        let x = Tensor(shape: [1, 2, 5, 4], values: (0..<40).map { Float(sin(0.7 * Double($0))) })
        layer.weight.value.update(from: (0..<54).map { Float(0.5 * cos(0.3 * Double($0))) }, count: 54)
        layer.bias.value.update(from: [0.1, -0.2, 0.3], count: 3)
        let y = layer.forward(x)
        XCTAssertEqual(y.shape, [1, 3, 3, 2])
        assertClose(y.values, [
            -0.622529, 0.821699, -0.088305, -0.520926, 0.884851, -0.138279, -0.247551, 0.948286,
            -0.241573, -0.279378, -0.34427, -1.328307, 0.962169, 1.035919, 0.435533, 0.820166,
            -0.667984, -0.893978,
        ], tolerance: 1e-5, "y")
        let dy = Tensor(shape: y.shape, values: (0..<18).map { Float(cos(1.1 * Double($0))) })
        assertClose(layer.backward(dy).values, [
            0.972674, 0.976828, 0.086652, 0.0004, -0.376296, -1.631637, -1.043908, -1.201007,
            -0.894064, -1.790183, -0.89774, -0.736406, -0.570729, -0.219049, 0.526147, 0.972877,
            0.079641, 1.130221, 0.96999, 0.866352, -1.049392, -1.271277, -0.19748, -0.125125,
            -0.35193, 0.448118, 0.649146, 0.936177, 0.87024, 1.844667, 0.986955, 0.94665,
            0.940829, 1.392115, 0.204368, -0.296333, 0.025118, -0.899901, -0.964168, -0.989085,
        ], tolerance: 1e-5, "dx")
        assertClose(layer.weight.gradients, [
            0.572527, 0.141164, 0.455105, -0.162444, 0.494497, 0.714553, -0.474217, -0.201397,
            -0.115528, 0.329019, 0.553092, 0.380409, -0.104776, 0.584803, 0.177701, 0.441439,
            0.031676, 0.158018, 0.596934, 0.179732, 0.373769, -0.468268, 0.10467, 0.44757,
            -0.33754, -0.18265, 0.039391, 0.067931, 0.387936, 0.214322, -0.133012, 0.579435,
            0.426632, 0.646357, 0.250409, 0.332572, 0.561925, 0.20041, 0.255229, -0.727484,
            -0.295575, 0.136039, -0.167267, -0.145722, 0.190389, -0.199918, 0.184166, 0.026903,
            -0.148008, 0.516394, 0.633099, 0.78694, 0.444216, 0.474024,
        ], tolerance: 1e-5, "dW")
        assertClose(layer.bias.gradients, [0.278952, 0.300954, 0.293001], tolerance: 1e-5, "db")
    }

    /// dY's gradients by their definition, in Double: dx[b][c][iy][ix] and dW[o][c][ky][kx]
    /// sum dy[b][o][oy][ox] times w[o][c][ky][kx] and x[b][c][iy][ix] over the positions that
    /// pair them (iy = oy·s − p + ky inside x, likewise ix); db[o] sums dy[., o].
    private func directGradients(_ layer: Conv2D, _ x: Tensor, _ dy: Tensor)
        -> (dx: [Double], dW: [Double], db: [Double]) {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, s, p, outC) = (layer.kernelSize, layer.stride, layer.padding, layer.outputChannels)
        let (outH, outW) = (dy.shape[2], dy.shape[3])
        let (xv, wv, dyv) = (x.values, layer.weight.values, dy.values)
        var dx = [Double](repeating: 0, count: xv.count)
        var dW = [Double](repeating: 0, count: wv.count)
        var db = [Double](repeating: 0, count: outC)
        for b in 0..<batch {
            for o in 0..<outC {
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        let g = Double(dyv[((b * outC + o) * outH + oy) * outW + ox])
                        db[o] += g
                        for c in 0..<channels {
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let (iy, ix) = (oy * s - p + ky, ox * s - p + kx)
                                    guard (0..<height).contains(iy), (0..<width).contains(ix) else { continue }
                                    let xi = ((b * channels + c) * height + iy) * width + ix
                                    let wi = ((o * channels + c) * k + ky) * k + kx
                                    dx[xi] += g * Double(wv[wi])
                                    dW[wi] += g * Double(xv[xi])
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dW, db)
    }

    /// (batch, inC, outC, height, width, kernel, stride, padding) whose batch takes several
    /// pieces of columns (more than `Conv2D.wholeBatchFloats`, pieces of `pieceFloats`), the
    /// last one shorter or not: 3 x 3 with padding over 12 x 12 (pieces of 7 images and a last
    /// of 6), stride 2 without padding on odd sizes and a channel count not a multiple of 16
    /// (1 image a piece), 1 x 1 images (301 a piece, the last 298).
    /// Batches of several pieces: by rows (16 channels or more, ck_conv2d_backward) at strides
    /// 1, 2 and 3, on 1 x 1 images, and with an even kernel (4 x 4, padding 2) over prime
    /// sizes (17 x 23; pieces of 23 images and a last of 21), and by columns.
    private let pieceCases = [
        (27, 32, 2, 12, 12, 3, 1, 1), (4, 41, 2, 63, 61, 3, 2, 0), (1201, 1000, 2, 1, 1, 1, 1, 0),
        (160, 8, 3, 12, 12, 3, 1, 1), (90, 16, 2, 17, 23, 4, 3, 2),
    ]

    /// A batch taken in several pieces: forward and backward against the definitions, the
    /// graph's call giving the same bits as the layer's passes, on 1 and 2 threads alike (and
    /// forward on 1 with backward on 2), and a second backward adding to the parameter
    /// gradients, and a second call's to the input's.
    func testConv2DOverSeveralPiecesOfTheBatch() {
        assertMatchesTheDefinitionsOnOneAndTwoThreads(pieceCases, seed: 11)
    }

    /// Batches of one piece with 16 channels or more whose windows are not flat (a stride above
    /// 1, or no padding to keep the width): by rows (ck_im2row) forward and backward, the rows
    /// that forward made kept for dW. Stride 2 from 14 x 14 to 7 x 7, 17 channels on a
    /// non-square plane narrowed by 3 x 3 without padding (batch 1), 1 x 1 planes and
    /// kernels at stride 2, 5 x 5 and 7 x 7 kernels at stride 2, stride 3 on 2 x 3 planes.
    private let onePieceRowsCases = [
        (2, 16, 3, 14, 14, 3, 2, 1), (1, 17, 2, 9, 7, 3, 1, 0), (3, 19, 4, 1, 1, 1, 2, 0),
        (2, 32, 5, 5, 6, 5, 2, 2), (4, 24, 8, 11, 11, 7, 2, 3), (2, 16, 3, 2, 3, 3, 3, 1),
    ]

    /// Batches of one piece by rows: as a batch of several pieces, against the definitions on
    /// 1 and 2 threads, and dX, dW and db against finite differences.
    func testOnePieceBatchesByRows() {
        for (batch, inC, outC, h, w, k, s, p) in onePieceRowsCases {
            let layer = Conv2D(inputChannels: inC, outputChannels: outC, kernelSize: k, stride: s,
                               padding: p)
            XCTAssertTrue(layer.isOnePiece([batch, inC, h, w]), "\(layer)")
            XCTAssertTrue(layer.addsInputGradient([batch, inC, h, w]), "\(layer) by rows")
        }
        assertMatchesTheDefinitionsOnOneAndTwoThreads(onePieceRowsCases, seed: 21)
        assertGradientsMatchFiniteDifferences(onePieceRowsCases, seed: 22, layerSeed: 23)
    }

    /// Each of `cases`: forward and backward against the definitions, the graph's call giving
    /// the same bits as the layer's passes, on 1 and 2 threads alike (and forward on 1 with
    /// backward on 2), and a second backward adding to the parameter gradients, and a second
    /// call's to the input's.
    private func assertMatchesTheDefinitionsOnOneAndTwoThreads(
        _ cases: [(Int, Int, Int, Int, Int, Int, Int, Int)], seed: UInt64
    ) {
        defer { Threads.reset() }
        var generator = SeededGenerator(seed: seed)
        for (batch, inC, outC, h, w, k, s, p) in cases {
            let layer = Conv2D(inputChannels: inC, outputChannels: outC, kernelSize: k, stride: s,
                               padding: p, biasInitializer: .uniform(low: -1, high: 1), seed: 12)
            let x = randomTensor([batch, inC, h, w], using: &generator)
            let expected = directConvolution(layer, x)
            let dy = randomTensor(expected.shape, using: &generator)
            let gradients = directGradients(layer, x, dy)
            var runs: [[UInt32]] = []
            for threads in [1, 2] {
                Threads.count = threads
                layer.weight.zeroGradient()
                layer.bias.zeroGradient()
                let y = layer.forward(x)
                assertClose(y.values, expected.values, tolerance: 1e-5, "\(layer) y")
                let dx = layer.backward(dy)
                assertClose(dx.values, gradients.dx, tolerance: 1e-5, "\(layer) dx")
                // dW and db sum up to 23 040 float products of magnitudes up to 1: an absolute
                // error of up to about 5e-5 (a few millionths of the products' magnitudes),
                // twice that in 2 · dW.
                assertClose(layer.weight.gradients, gradients.dW, tolerance: 1e-4, "\(layer) dW")
                assertClose(layer.bias.gradients, gradients.db, tolerance: 1e-4, "\(layer) db")
                let layerBits = (y.values + dx.values + layer.weight.gradients
                                 + layer.bias.gradients).map(\.bitPattern)
                layer.accumulateParameterGradients(dy)
                assertClose(layer.weight.gradients, gradients.dW.map { 2 * $0 }, tolerance: 2e-4,
                            "\(layer) accumulated dW")
                layer.weight.zeroGradient()
                layer.bias.zeroGradient()
                let input = Tensor(shape: x.shape, values: x.values, requiresGradient: true)
                let graphY = layer(input)
                graphY.backward(dy)
                XCTAssertEqual((graphY.values + input.gradients + layer.weight.gradients
                                + layer.bias.gradients).map(\.bitPattern), layerBits,
                               "\(layer) graph")
                // A second call's dX is added to the input's gradient (in place by rows).
                let firstInputGradient = input.gradients
                layer(input).backward(dy)
                XCTAssertEqual(input.gradients.map(\.bitPattern),
                               firstInputGradient.map { ($0 + $0).bitPattern },
                               "\(layer) graph, dX added")
                runs.append(layerBits)
            }
            XCTAssertEqual(runs[0], runs[1], "\(layer) on 1 and 2 threads")
            // Forward on 1 thread leaves buffers for one piece in flight; backward on 2 runs
            // the pieces one after another, each on both threads: the same bits.
            layer.weight.zeroGradient()
            layer.bias.zeroGradient()
            Threads.count = 1
            let y = layer.forward(x)
            Threads.count = 2
            let dx = layer.backward(dy)
            XCTAssertEqual((y.values + dx.values + layer.weight.gradients
                            + layer.bias.gradients).map(\.bitPattern), runs[0],
                           "\(layer) forward on 1 thread, backward on 2")
        }
    }

    /// A batch taken in several pieces, run in parallel on 2 threads: dX, dW and db against
    /// finite differences, at 31 elements of x and of W spread over them (every piece's images,
    /// every partial sum of dW) and every bias.
    func testConv2DOverSeveralPiecesMatchesFiniteDifferences() {
        defer { Threads.reset() }
        Threads.count = 2
        for (batch, inC, outC, h, w, k, s, p) in pieceCases.prefix(2) {
            let layer = Conv2D(inputChannels: inC, outputChannels: outC, kernelSize: k, stride: s,
                               padding: p)
            XCTAssertFalse(layer.isOnePiece([batch, inC, h, w]), "\(layer)")
        }
        assertGradientsMatchFiniteDifferences(Array(pieceCases.prefix(2)), seed: 13, layerSeed: 14)
    }

    /// dX, dW and db of each of `cases` (random biases) against finite differences, at up to
    /// 31 elements of x and of W spread over them and every bias.
    private func assertGradientsMatchFiniteDifferences(
        _ cases: [(Int, Int, Int, Int, Int, Int, Int, Int)], seed: UInt64, layerSeed: UInt64
    ) {
        var generator = SeededGenerator(seed: seed)
        for (batch, inC, outC, h, w, k, s, p) in cases {
            let layer = Conv2D(inputChannels: inC, outputChannels: outC, kernelSize: k, stride: s,
                               padding: p, biasInitializer: .uniform(low: -1, high: 1),
                               seed: layerSeed)
            let x = randomTensor([batch, inC, h, w], using: &generator)
            let dy = randomTensor(layer.forward(x).shape, using: &generator)
            let loss = { weightedSum(layer.forward(x), dy) }
            _ = layer.forward(x)
            let dx = layer.backward(dy).values
            for (name, tensor, got, most) in [
                ("dx", x, dx, 31), ("dW", layer.weight, layer.weight.gradients, 31),
                ("db", layer.bias, layer.bias.gradients, outC),
            ] {
                let samples = min(most, tensor.count)
                let indices = (0..<samples).map { $0 * (tensor.count - 1) / max(1, samples - 1) }
                let numeric = indices.flatMap {
                    numericalGradient(of: loss, at: tensor.value + $0, count: 1)
                }
                assertClose(indices.map { got[$0] }, numeric, tolerance: 1e-3, "\(layer) \(name)")
            }
        }
    }

    /// A batch in the Winograd form (3 x 3, stride 1, padding 1, several pieces) keeps no
    /// columns or products, and its steps after the first allocate nothing; the same shape in
    /// one piece, or at stride 2, keeps both.
    func testWinogradBatchesKeepNoColumns() {
        let layer = Conv2D(inputChannels: 32, outputChannels: 2, kernelSize: 3, padding: 1)
        let strided = Conv2D(inputChannels: 32, outputChannels: 2, kernelSize: 3, stride: 2,
                             padding: 1)
        let (several, one) = ([27, 32, 12, 12], [2, 32, 12, 12])
        XCTAssertFalse(layer.isOnePiece(several))
        XCTAssertTrue(layer.isOnePiece(one))
        let winograd = layer.shapes(forInputShape: several)
        XCTAssertEqual(winograd.columns.reduce(1, *), 0)
        XCTAssertEqual(winograd.product.reduce(1, *), 0)
        for (conv, shape) in [(layer, one), (strided, several)] {
            let kept = conv.shapes(forInputShape: shape)
            XCTAssertGreaterThan(kept.columns.reduce(1, *), 0, "\(conv) \(shape)")
            XCTAssertGreaterThan(kept.product.reduce(1, *), 0, "\(conv) \(shape)")
        }
        var generator = SeededGenerator(seed: 15)
        let x = randomTensor(several, using: &generator)
        let dy = randomTensor([27, 2, 12, 12], using: &generator)
        func step() {
            _ = layer.forward(x)
            _ = layer.backward(dy)
        }
        step()
        let before = BufferPool.allocations.load(ordering: .relaxed)
        step()
        XCTAssertEqual(BufferPool.allocations.load(ordering: .relaxed), before)
    }

    /// A batch in the Winograd form on planes 2 pixels high, whose dX is in the Winograd form
    /// and dW by rows: it keeps columns for dW but no column gradient (a batch of one piece
    /// keeps both), and its gradients are the definition's.
    func testNarrowWinogradBatchesKeepNoColumnGradient() {
        var generator = SeededGenerator(seed: 18)
        let layer = Conv2D(inputChannels: 32, outputChannels: 2, kernelSize: 3, padding: 1)
        let x = randomTensor([40, 32, 2, 64], using: &generator)
        let dy = randomTensor([40, 2, 2, 64], using: &generator)
        XCTAssertFalse(layer.isOnePiece(x.shape))
        for (shape, keepsGradient) in [(x.shape, false), ([2, 32, 2, 64], true)] {
            let columns = layer.shapes(forInputShape: shape).columns.reduce(1, *)
            XCTAssertGreaterThan(columns, 0, "\(shape)")
            XCTAssertEqual(layer.columnGradientFloats(inputShape: shape, columnFloats: columns),
                           keepsGradient ? columns : 0, "\(shape)")
        }
        _ = layer.forward(x)
        let dx = layer.backward(dy).values
        let expected = directGradients(layer, x, dy)
        assertClose(dx, expected.dx, tolerance: 1e-4, "dx")
        assertClose(layer.weight.gradients, expected.dW, tolerance: 1e-3, "dW")
    }

    /// A batch of several pieces on planes one pixel high or wide, or 1 x 1 (3 x 3, stride 1,
    /// padding 1), takes Y and dX by the products, not the Winograd form: it keeps columns,
    /// products and a column gradient, and its output and gradients are the definition's.
    func testPlanesOnePixelHighOrWideKeepColumns() {
        var generator = SeededGenerator(seed: 19)
        for shape in [[64, 32, 1, 64], [64, 32, 64, 1], [4096, 32, 1, 1]] {
            let layer = Conv2D(inputChannels: 32, outputChannels: 2, kernelSize: 3, padding: 1)
            XCTAssertFalse(layer.isOnePiece(shape), "\(shape)")
            let kept = layer.shapes(forInputShape: shape), columns = kept.columns.reduce(1, *)
            XCTAssertGreaterThan(columns, 0, "\(shape)")
            XCTAssertGreaterThan(kept.product.reduce(1, *), 0, "\(shape)")
            XCTAssertEqual(layer.columnGradientFloats(inputShape: shape, columnFloats: columns),
                           columns, "\(shape)")
            let x = randomTensor(shape, using: &generator)
            let dy = randomTensor([shape[0], 2, shape[2], shape[3]], using: &generator)
            let y = layer.forward(x).values, dx = layer.backward(dy).values
            let expected = directGradients(layer, x, dy)
            assertClose(y, directConvolution(layer, x).values, tolerance: 1e-4, "\(shape) y")
            assertClose(dx, expected.dx, tolerance: 1e-4, "\(shape) dx")
            assertClose(layer.weight.gradients, expected.dW, tolerance: 1e-3, "\(shape) dW")
        }
    }

    /// A batch in the Winograd form with an infinite pixel in X and in dY, inside the planes
    /// (no window from them reaches the zero padding): Y, dX and dW have the definition's
    /// infinities and NaNs, where the Winograd form's transforms would give NaN, through the
    /// kernels' scratch (the layer keeps no columns), and their other elements are close to it.
    func testWinogradBatchesGiveTheDefinitionsInfinities() {
        var generator = SeededGenerator(seed: 16)
        let layer = Conv2D(inputChannels: 32, outputChannels: 2, kernelSize: 3, padding: 1,
                           biasInitializer: .uniform(low: -1, high: 1), seed: 17)
        var (xValues, dyValues) = (randomTensor([27, 32, 12, 12], using: &generator).values,
                                   randomTensor([27, 2, 12, 12], using: &generator).values)
        xValues[((3 * 32 + 5) * 12 + 6) * 12 + 7] = .infinity
        dyValues[((10 * 2 + 1) * 12 + 5) * 12 + 4] = -.infinity
        let x = Tensor(shape: [27, 32, 12, 12], values: xValues)
        let dy = Tensor(shape: [27, 2, 12, 12], values: dyValues)
        XCTAssertEqual(layer.shapes(forInputShape: x.shape).columns.reduce(1, *), 0)
        let expected = directConvolution(layer, x), gradients = directGradients(layer, x, dy)
        let y = layer.forward(x).values, dx = layer.backward(dy).values
        for (what, got, expected) in [("y", y, expected.values), ("dx", dx, gradients.dx),
                                      ("dW", layer.weight.gradients, gradients.dW)] {
            // The indices of the NaNs, and of the infinities with their signs.
            func specials<T: BinaryFloatingPoint>(_ v: [T]) -> [String] {
                v.indices.filter { !v[$0].isFinite }
                    .map { "\($0): \(v[$0].isNaN ? "nan" : v[$0] < 0 ? "-inf" : "inf")" }
            }
            XCTAssertEqual(specials(got), specials(expected), what)
            XCTAssertTrue(expected.contains { $0.isInfinite }, "\(what) has an infinity")
            let finite = zip(got, expected).filter { $0.1.isFinite }
            assertClose(finite.map(\.0), finite.map(\.1), tolerance: 1e-4, what)
        }
    }

    func testPoolingOutputShapesFollowCeilMode() {
        let x = Tensor(shape: [2, 3, 5, 7])
        XCTAssertEqual(MaxPool2D(kernelSize: 2).forward(x).shape, [2, 3, 2, 3])
        XCTAssertEqual(MaxPool2D(kernelSize: 2, ceilMode: true).forward(x).shape, [2, 3, 3, 4])
        XCTAssertEqual(AvgPool2D(kernelSize: 3, stride: 2).forward(x).shape, [2, 3, 2, 3])
        XCTAssertEqual(AvgPool2D(kernelSize: 3, stride: 2, ceilMode: true).forward(x).shape,
                       [2, 3, 2, 3])
        XCTAssertEqual(AvgPool2D(kernelSize: 2, ceilMode: true)
                        .forward(Tensor(shape: [1, 1, 2, 3], values: [1, 2, 3, 4, 5, 6])).values,
                       [3, 4.5])
    }

    /// PyTorch's ceil mode pools an input smaller than the window when kernel − size <
    /// stride: one window, clipped to the input (the values and gradients of
    /// `max_pool2d` and `avg_pool2d` with `ceil_mode=True` on `arange(4).reshape(1, 1, 2, 2)`).
    func testCeilModePoolsAnInputSmallerThanTheWindow() {
        let x = Tensor(shape: [1, 1, 2, 2], values: [0, 1, 2, 3], requiresGradient: true)
        let maximum = MaxPool2D(kernelSize: 3, stride: 2, ceilMode: true)(x)
        let mean = AvgPool2D(kernelSize: 3, stride: 2, ceilMode: true)(x)
        XCTAssertEqual(maximum.shape, [1, 1, 1, 1])
        XCTAssertEqual(maximum.values, [3])
        XCTAssertEqual(mean.values, [1.5])
        (maximum.sum() + mean.sum()).backward()
        XCTAssertEqual(x.gradients, [0.25, 0.25, 0.25, 1.25])
        XCTAssertEqual(MaxPool2D(kernelSize: 4, ceilMode: true).forward(Tensor(shape: [1, 1, 3, 3]))
                        .shape, [1, 1, 1, 1])
    }

    /// PyTorch 2's values and gradients with padding (`max_pool2d` and `avg_pool2d` of 5 x 5
    /// planes, 3 x 3 windows, stride 2, padding 1, and of 6 x 6 planes, 4 x 4 windows, stride
    /// 3, padding 2, ceil mode, `count_include_pad` true and false), by the recorded operation
    /// and by forward and backward.
    func testPoolingWithPaddingMatchesPyTorch() {
        // Max pooling of negative values: the padding is never a window's maximum.
        let negative = (1...25).map { -Float($0) }
        let dy = Tensor(shape: [1, 1, 3, 3], values: (1...9).map(Float.init))
        assertPooling(MaxPool2D(kernelSize: 3, stride: 2, padding: 1), of: negative,
                      side: 5, dy: dy,
                      values: [-1, -2, -4, -6, -7, -9, -16, -17, -19],
                      gradients: [1, 2, 0, 3, 0, 4, 5, 0, 6, 0, 0, 0, 0, 0, 0, 7, 8, 0, 9, 0, 0, 0,
                                  0, 0, 0])
        let ones = Tensor(shape: [1, 1, 3, 3], values: Array(repeating: 1, count: 9))
        let ramp5 = (0..<25).map(Float.init), ramp6 = (0..<36).map(Float.init)
        let (a, b, c) = (Float(1) / 9, Float(2) / 9, Float(4) / 9)
        assertPooling(AvgPool2D(kernelSize: 3, stride: 2, padding: 1), of: ramp5, side: 5,
                      dy: ones, values: [4.0 / 3, 3, 8.0 / 3, 7, 12, 9, 8, 13, 28.0 / 3],
                      gradients: [a, b, a, b, a, b, c, b, c, b, a, b, a, b, a, b, c, b, c, b, a, b,
                                  a, b, a])
        assertPooling(AvgPool2D(kernelSize: 3, stride: 2, padding: 1, countIncludesPadding: false),
                      of: ramp5, side: 5, dy: ones,
                      values: [3, 4.5, 6, 10.5, 12, 13.5, 18, 19.5, 21],
                      gradients: [0.25, 5.0 / 12, 1.0 / 6, 5.0 / 12, 0.25, 5.0 / 12, 25.0 / 36,
                                  10.0 / 36, 25.0 / 36, 5.0 / 12, 1.0 / 6, 10.0 / 36, 1.0 / 9,
                                  10.0 / 36, 1.0 / 6, 5.0 / 12, 25.0 / 36, 10.0 / 36, 25.0 / 36,
                                  5.0 / 12, 0.25, 5.0 / 12, 1.0 / 6, 5.0 / 12, 0.25])
        let (e, f, g) = (Float(0.0625), Float(0.125), Float(0.25))
        assertPooling(AvgPool2D(kernelSize: 4, stride: 3, padding: 2, ceilMode: true),
                      of: ramp6, side: 6, dy: ones,
                      values: [0.875, 2.75, 1.875, 7.75, 17.5, 9.75, 6.875, 14.75, 7.875],
                      gradients: [e, f, e, e, f, e, f, g, f, f, g, f, e, f, e, e, f, e,
                                  e, f, e, e, f, e, f, g, f, f, g, f, e, f, e, e, f, e])
        assertPooling(AvgPool2D(kernelSize: 4, stride: 3, padding: 2, ceilMode: true,
                                countIncludesPadding: false),
                      of: ramp6, side: 6, dy: ones,
                      values: [3.5, 5.5, 7.5, 15.5, 17.5, 19.5, 27.5, 29.5, 31.5],
                      gradients: [0.25, 0.375, 0.125, 0.125, 0.375, 0.25,
                                  0.375, 0.5625, 0.1875, 0.1875, 0.5625, 0.375,
                                  0.125, 0.1875, 0.0625, 0.0625, 0.1875, 0.125,
                                  0.125, 0.1875, 0.0625, 0.0625, 0.1875, 0.125,
                                  0.375, 0.5625, 0.1875, 0.1875, 0.5625, 0.375,
                                  0.25, 0.375, 0.125, 0.125, 0.375, 0.25])
    }

    /// `layer`'s output and input gradient on a side x side plane of `values` with output
    /// gradient `dy`, called and by forward and backward, close to PyTorch's.
    private func assertPooling(_ layer: some Function, of values: [Float], side: Int, dy: Tensor,
                               values expected: [Double], gradients: [Float],
                               file: StaticString = #filePath, line: UInt = #line) {
        let x = Tensor(shape: [1, 1, side, side], values: values, requiresGradient: true)
        let y = layer(x)
        y.backward(dy)
        let forward = layer.forward(x)
        XCTAssertEqual(y.shape, dy.shape, "\(layer)", file: file, line: line)
        XCTAssertEqual(forward.values, y.values, "\(layer)", file: file, line: line)
        assertClose(y.values, expected, tolerance: 1e-6, "\(layer) y", file: file, line: line)
        XCTAssertEqual(layer.backward(dy).values, x.gradients, "\(layer)", file: file, line: line)
        assertClose(x.gradients, gradients.map(Double.init), tolerance: 1e-6, "\(layer) dx",
                    file: file, line: line)
    }

    /// The padding's limit, half the kernel (PyTorch's).
    func testPoolingStopsOnPaddingBeyondHalfTheKernel() throws {
        try assertStops(withMessage: "MaxPool2D: padding must be at least 0 and at most half the kernel size, got padding 2, kernel 3") {
            _ = MaxPool2D(kernelSize: 3, stride: 1, padding: 2)
        }
    }

    func testPoolingStopsOnNegativePadding() throws {
        try assertStops(withMessage: "AvgPool2D: padding must be at least 0 and at most half the kernel size, got padding -1, kernel 2") {
            _ = AvgPool2D(kernelSize: 2, padding: -1)
        }
    }

    func testPoolingStopsOnAPaddedInputSmallerThanTheWindow() throws {
        try assertStops(withMessage: "MaxPool2D(kernel 5, stride 1, padding 1): input of shape [1, 1, 2, 9] padded by 1 is too small for a 5x5 window") {
            _ = MaxPool2D(kernelSize: 5, stride: 1, padding: 1).forward(Tensor(shape: [1, 1, 2, 9]))
        }
    }

    /// The descriptions and output shapes with padding.
    func testPoolingWithPaddingIsDescribedAndShaped() {
        XCTAssertEqual(MaxPool2D(kernelSize: 3, stride: 2, padding: 1).description,
                       "MaxPool2D(kernel 3, stride 2, padding 1)")
        XCTAssertEqual(AvgPool2D(kernelSize: 4, stride: 3, padding: 2, ceilMode: true,
                                 countIncludesPadding: false).description,
                       "AvgPool2D(kernel 4, stride 3, padding 2, ceil mode, padding not counted)")
        // Without padding the descriptions are those of the layers before padding existed
        // (saved files and checkpoints name them).
        XCTAssertEqual(AvgPool2D(kernelSize: 2, countIncludesPadding: false).description,
                       "AvgPool2D(kernel 2, stride 2)")
        XCTAssertEqual(MaxPool2D(kernelSize: 2, ceilMode: true).description,
                       "MaxPool2D(kernel 2, stride 2, ceil mode)")
        let stem = MaxPool2D(kernelSize: 3, stride: 2, padding: 1)
        XCTAssertEqual(stem.padding, 1)
        XCTAssertEqual(stem.forward(Tensor(shape: [2, 3, 112, 111])).shape, [2, 3, 56, 56])
        XCTAssertEqual(AvgPool2D(kernelSize: 3, stride: 2, padding: 1, ceilMode: true)
                        .forward(Tensor(shape: [1, 1, 6, 5])).shape, [1, 1, 4, 3])
    }

    func testPoolingBackwardsMatchFiniteDifferences() {
        var generator = SeededGenerator(seed: 5)
        let layers: [(any Function, [Int])] = [
            (MaxPool2D(kernelSize: 2), [2, 3, 5, 6]),
            (MaxPool2D(kernelSize: 2, ceilMode: true), [2, 2, 5, 5]),
            (MaxPool2D(kernelSize: 3, stride: 2, ceilMode: true), [1, 2, 6, 7]),
            (AvgPool2D(kernelSize: 2), [2, 3, 5, 6]),
            (AvgPool2D(kernelSize: 2, ceilMode: true), [2, 2, 5, 5]),
            (AvgPool2D(kernelSize: 3, stride: 2, ceilMode: true), [1, 2, 6, 7]),
            (MaxPool2D(kernelSize: 3, stride: 2, padding: 1), [2, 2, 7, 8]),
            (MaxPool2D(kernelSize: 4, stride: 3, padding: 2, ceilMode: true), [1, 2, 6, 1]),
            (AvgPool2D(kernelSize: 3, stride: 2, padding: 1), [2, 2, 7, 8]),
            (AvgPool2D(kernelSize: 3, stride: 1, padding: 1, countIncludesPadding: false),
             [1, 3, 1, 6]),
            (AvgPool2D(kernelSize: 4, stride: 3, padding: 2, ceilMode: true), [1, 2, 6, 7]),
            (AvgPool2D(kernelSize: 4, stride: 3, padding: 2, ceilMode: true,
                       countIncludesPadding: false), [1, 2, 6, 7]),
        ]
        for (layer, shape) in layers {
            // Distinct values at least 0.01 apart, so that a step of 1e-3 never changes a maximum.
            let count = shape.reduce(1, *)
            var values = (0..<count).map { Float($0) * 0.01 }
            values.shuffle(using: &generator)
            let x = Tensor(shape: shape, values: values)
            let dy = randomTensor(layer.forward(x).shape, using: &generator)
            let dx = layer.backward(dy).values
            let numeric = numericalGradient(of: { weightedSum(layer.forward(x), dy) },
                                            at: x.value, count: x.count, step: 1e-3)
            assertClose(dx, numeric, tolerance: 2e-3, "\(layer) dx \(shape)")
        }
    }

    /// A small CNN for 8x8 images of one channel and 2 classes.
    private func smallCNN() -> Model {
        Model {
            Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, seed: 7)
            ReLU()
            MaxPool2D(kernelSize: 2)
            Flatten()
            Linear(4 * 4 * 4, 2, seed: 8)
        }
    }

    func testSmallCNNLearns() throws {
        var generator = SeededGenerator(seed: 6)
        let model = smallCNN()
        // Two classes of 8x8 images: a bright vertical bar or a bright horizontal bar, in noise.
        let batch = 16
        var values = [Float](), labels = [Int32]()
        for i in 0..<batch {
            let label = Int32(i % 2), line = Int.random(in: 1..<7, using: &generator)
            for y in 0..<8 {
                for x in 0..<8 {
                    let onBar = label == 0 ? x == line : y == line
                    values.append((onBar ? 1 : 0) + 0.2 * Float.random(in: -1..<1, using: &generator))
                }
            }
            labels.append(label)
        }
        let images = Tensor(shape: [batch, 1, 8, 8], values: values)
        let loss = SoftmaxCrossEntropy()
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var history = [Float]()
        for _ in 0..<20 {
            history.append(try loss.forward(model.forward(images), labels: labels))
            optimizer.zeroGrad()
            _ = model.backward(loss.backward())
            optimizer.step()
        }
        XCTAssertLessThan(history.last!, 0.5 * history.first!, "losses \(history)")
        XCTAssertEqual(try model.accuracy(images, labels: labels), 1, accuracy: 1e-9)
    }

    /// An empty batch goes through every layer (Flatten keeps the width, [0, 64]) to no
    /// predictions and no rows of probabilities.
    func testSmallCNNOnAnEmptyBatch() {
        let model = smallCNN(), empty = Tensor(shape: [0, 1, 8, 8])
        XCTAssertEqual(model.predict(empty), [])
        XCTAssertEqual(model.probabilities(empty).shape, [0, 2])
        XCTAssertEqual(model.forward(empty).shape, [0, 2])
        XCTAssertEqual(model(empty).shape, [0, 2])
    }

    /// After the first step, forward and backward reuse every buffer (the columns included),
    /// also when the batch shrinks.
    func testTrainingStepsAllocateNothingAfterTheFirst() {
        var generator = SeededGenerator(seed: 9)
        let layers: [any Function] = [
            Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1, seed: 10),
            MaxPool2D(kernelSize: 2, ceilMode: true), AvgPool2D(kernelSize: 2, ceilMode: true),
        ]
        let x = randomTensor([4, 2, 9, 9], using: &generator)
        let smaller = randomTensor([3, 2, 9, 9], using: &generator)
        let dy = Tensor(shape: [4, 3, 2, 2]), dySmall = Tensor(shape: [3, 3, 2, 2])
        func step(_ input: Tensor) {
            let y = layers.reduce(input) { $1.forward($0) }
            _ = layers.reversed().reduce(y.shape[0] == 4 ? dy : dySmall) { $1.backward($0) }
        }
        step(x)
        let before = BufferPool.allocations.load(ordering: .relaxed)
        for input in [x, smaller, x] { step(input) }
        XCTAssertEqual(BufferPool.allocations.load(ordering: .relaxed), before)
    }

    func testShapeMismatchesStopNamingTheLayerAndShapes() throws {
        try assertStops(withMessage: "Conv2D(3 → 4, kernel 3, stride 1, padding 0): input of shape [2, 2, 8, 8] does not fit; expected [batch, 3, height, width]") {
            _ = Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: 3).forward(Tensor(shape: [2, 2, 8, 8]))
        }
    }

    func testPoolingStopsOnAMatrixInput() throws {
        try assertStops(withMessage: "MaxPool2D(kernel 2, stride 2): input of shape [2, 8] does not fit; expected [batch, channels, height, width]") {
            _ = MaxPool2D(kernelSize: 2).forward(Tensor(shape: [2, 8]))
        }
    }
}
