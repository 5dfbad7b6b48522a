// The kernels compiled once per instruction set (CK_VECTORIZED, CKernels/threading.h) on fixed
// inputs: a digest of each one's outputs, the same on 1 and 2 threads, written as "name digest"
// lines to the file that the environment variable CK_CLONE_DIGESTS names. .ci/clones compares
// the lines of a normal build (the AVX-512 clones, on its CPU) with those of the builds forced
// to AVX2 and to the baseline (CK_FORCE_ISA): the clones promise the same bits. The GEMM, whose
// results may differ between kinds of CPU, runs its portable table here in every build, so
// that the kernels built on it (the convolution) compare too.
import CKernels
import DeepLearning
import Foundation
import XCTest

/// FNV-1a over the words, in hexadecimal.
private func fnv1a(_ words: [UInt64]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for word in words {
        for byte in 0..<8 { hash = (hash ^ ((word >> (8 * UInt64(byte))) & 0xff)) &* 0x100_0000_01b3 }
    }
    return String(hash, radix: 16)
}

/// The floats' bits, every NaN as one (its sign and payload are part of no kernel's promise).
private func words(_ values: [Float]) -> [UInt64] {
    values.map { $0.isNaN ? 0x7fc0_0000 : UInt64($0.bitPattern) }
}

/// Inputs shared by the kernels: n floats (a length that leaves a tail after every vector
/// width) from -3 to 3, among them zeros of both signs, a subnormal, large and huge
/// magnitudes (the slow paths of exp, pow, sin and cos), infinities and NaN.
private struct DigestInputs {
    static let n = 1037
    let x, y, t, positive: [Float]

    init() {
        var rng = SeededGenerator(seed: 38)
        var x = randomFloats(Self.n, in: -3...3, using: &rng)
        // 0x116C2p-149: 1e-40 rounded to Float, a subnormal, written exactly.
        let specials: [Float] = [0, -0.0, 0x116C2p-149, -0x116C2p-149, 1e30, -1e30, 90, -110,
                                 1e5, -3e4, .infinity, -.infinity, .nan, 1, -1, 2]
        for (i, s) in specials.enumerated() { x[i * 61] = s }
        self.x = x
        y = randomFloats(Self.n, in: -3...3, using: &rng)
        t = randomFloats(Self.n, in: 0...1, using: &rng)
        positive = randomFloats(Self.n, in: 0.1...4, using: &rng)
    }
}

/// The lines "name digest", one a kernel (a name without spaces): the digest of its outputs
/// (floats, then integers).
private struct Digests {
    var lines = [String]()

    mutating func record(_ name: String, _ outputs: [Float]..., integers: [Int64] = []) {
        lines.append("\(name) \(fnv1a(outputs.flatMap(words) + integers.map { UInt64(bitPattern: $0) }))")
    }
}

final class CloneDigestTests: XCTestCase {
    func testDigestsOfTheClonedKernels() throws {
        let original = ck_gemm_get_arch()
        XCTAssertEqual(ck_gemm_set_arch(CK_GEMM_ARCH_PORTABLE), 0)
        defer { ck_gemm_set_arch(original) }
        let inputs = DigestInputs()
        let lines = withThreads(1) { digests(inputs) }
        let onTwoThreads = withThreads(2) { digests(inputs) }
        for (line, other) in zip(lines, onTwoThreads) { XCTAssertEqual(line, other) }
        guard let path = ProcessInfo.processInfo.environment["CK_CLONE_DIGESTS"] else { return }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// "name digest" of each kernel's outputs on the inputs.
    private func digests(_ inputs: DigestInputs) -> [String] {
        var digests = Digests()
        graphKernels(inputs, &digests)
        layerKernels(inputs, &digests)
        trainingKernels(inputs, &digests)
        return digests.lines
    }

    /// ck_binary_gradients of op writing each operand's gradient over the operand (da = a,
    /// db = b, a's accumulated), then for / b's alone over b from the quotient: both
    /// operands' gradients, then that divisor's.
    private func gradientsOverOperands(_ op: ck_binary_op, _ dy: [Float], _ a: [Float],
                                       _ b: [Float]) -> [Float] {
        let n = dy.count
        var operands = a + b, divisor = b
        operands.withUnsafeMutableBufferPointer { values in
            let (a, b) = (values.baseAddress!, values.baseAddress! + n)
            ck_binary_gradients(op, Int64(n), dy, a, b, nil, 1, a, 0, b)
        }
        guard op == CK_BINARY_DIVIDE else { return operands }
        let quotient = zip(a, b).map { $0 / $1 }
        divisor.withUnsafeMutableBufferPointer { values in
            ck_binary_gradients(op, Int64(n), dy, nil, values.baseAddress, quotient, 0, nil, 1,
                                values.baseAddress)
        }
        return operands + divisor
    }

    /// ckernels_graph.h's kernels.
    private func graphKernels(_ inputs: DigestInputs, _ d: inout Digests) {
        let (x, y, n) = (inputs.x, inputs.y, Int64(DigestInputs.n))
        let ops: [(String, ck_binary_op)] = [("add", CK_BINARY_ADD), ("subtract", CK_BINARY_SUBTRACT),
                                             ("multiply", CK_BINARY_MULTIPLY), ("divide", CK_BINARY_DIVIDE)]
        // A 3 x 5 x 61 output, b broadcast along the middle dimension (its gradient keeps the
        // last one) or the last (its gradient sums it in lanes).
        let shape: [Int64] = [3, 5, 61], full: [Int64] = [305, 61, 1]
        let out = Int(shape.reduce(1, *))
        for (name, op) in ops {
            for (form, strides, count) in [("middle", [Int64(61), 0, 1], 183), ("last", [Int64(5), 1, 0], 15)] {
                let b = Array(y.prefix(count))
                var z = [Float](repeating: 0, count: out)
                ck_binary(op, 3, shape, x, full, b, strides, 0, &z)
                var da = [Float](repeating: 0, count: out), db = [Float](repeating: 1, count: count)
                ck_binary_gradient(op, 0, 3, shape, y, x, full, b, strides, 0, &da)
                ck_binary_gradient(op, 1, 3, shape, y, x, full, b, strides, 1, &db)
                d.record("ck_binary/\(name)/\(form)", z)
                d.record("ck_binary_gradient/\(name)/\(form)", da, db)
            }
            var da = [Float](repeating: 0, count: Int(n)), db = da
            let quotient: [Float]? = op == CK_BINARY_DIVIDE ? zip(y, inputs.positive).map { $0 / $1 } : nil
            ck_binary_gradients(op, n, x, y, inputs.positive, quotient, 0, &da, 1, &db)
            d.record("ck_binary_gradients/\(name)", da, db)
            if op == CK_BINARY_MULTIPLY || op == CK_BINARY_DIVIDE {
                d.record("ck_binary_gradients/\(name)/over-operands",
                         gradientsOverOperands(op, x, y, inputs.positive))
            }
        }
        var summed = [Float](repeating: 0, count: 5)
        ck_sum_to(3, shape, x, [0, 1, 0], 0.5, 0, &summed)
        d.record("ck_sum_to", summed)

        let unary: [(String, ck_unary_op, Float)] = [
            ("negate", CK_UNARY_NEGATE, 0), ("exp", CK_UNARY_EXP, 0), ("log", CK_UNARY_LOG, 0),
            ("sqrt", CK_UNARY_SQRT, 0), ("abs", CK_UNARY_ABS, 0), ("sin", CK_UNARY_SIN, 0),
            ("cos", CK_UNARY_COS, 0), ("gelu", CK_UNARY_GELU, 0),
        ] + [0, 1, 2, 3, -1, -2, -3, 0.5, -0.5, 4, 5, 2.5, -1.7, 7, 15, -4, -7, -15]
            .map { ("pow\($0)", CK_UNARY_POW, $0) }
        for (name, op, parameter) in unary {
            var forward = [Float](repeating: 0, count: Int(n)), backward = y
            ck_unary_forward(op, n, x, parameter, &forward)
            ck_unary_backward(op, n, x, forward, y, parameter, 1, &backward)
            d.record("ck_unary/\(name)", forward, backward)
        }
        // x^-n on inputs whose blocks are all within inverse_power_in_range (power.h): its
        // loop of inverse_power_fused alone, where x's special values mix in the other forms.
        for p: Float in [-2, -3, -4, -5, -7, -15] {
            var forward = [Float](repeating: 0, count: Int(n)), backward = y
            ck_unary_forward(CK_UNARY_POW, n, inputs.positive, p, &forward)
            ck_unary_backward(CK_UNARY_POW, n, inputs.positive, forward, y, p, 1, &backward)
            d.record("ck_unary/pow\(p)/in-range", forward, backward)
        }
        var scaled = y, filled = y
        ck_scaled_add(n, 0.3, x, 1, &scaled)
        ck_fill(n - 2, -1.5, &filled)
        d.record("ck_scaled_add", scaled)
        d.record("ck_fill", filled)
        d.record("ck_sum+ck_mean", [ck_sum(n, y), ck_mean(n, y)])
        var ties: Int64 = 0
        let tied = y.map { ($0 * 4).rounded() }
        let maximum = ck_max(n, tied, &ties)
        var dMax = y
        ck_max_backward(n, tied, maximum, 0.25, 1, &dMax)
        d.record("ck_max", [maximum], dMax, integers: [ties])
        // x as 17 x 61 slices: the maximum along 61 of each 17 (inner 1), or along 17 (inner 61).
        for (outer, along, inner) in [(17, 61, 1), (1, 17, 61)] as [(Int64, Int64, Int64)] {
            var m = [Float](repeating: 0, count: Int(outer * inner)), indices = [Int64](repeating: 0, count: m.count)
            ck_max_axis(outer, along, inner, tied, &m, &indices)
            var dx = [Float](repeating: 0, count: Int(outer * along * inner))
            ck_max_axis_backward(outer, along, inner, indices, y, 0, &dx)
            d.record("ck_max_axis/\(along)", m, dx, integers: indices)
        }
        var transposed = [Float](repeating: 1, count: 3 * 17 * 19), block = transposed
        ck_transpose(3, 17, 19, x, 1, &transposed)
        ck_copy_block(17, 19, x, 61, 1, &block, 20)
        d.record("ck_transpose", transposed)
        d.record("ck_copy_block", block)
        var table = [Float](repeating: 1, count: 7 * 61)
        let rows = (0..<17).map { Int64($0 * 5 % 7) }
        ck_scatter_add_rows(17, 61, y, rows, 7, 1, &table)
        d.record("ck_scatter_add_rows", table)
        for classes in [3, 10, 20, 50, 61, 300] as [Int64] {
            let rows = n / classes
            var logSoftmax = [Float](repeating: 0, count: Int(rows * classes)), dx = logSoftmax
            ck_log_softmax(rows, classes, y, &logSoftmax)
            ck_log_softmax_backward(rows, classes, logSoftmax, x, 0, &dx)
            d.record("ck_log_softmax/\(classes)", logSoftmax, dx)
        }
        var dz = [Float](repeating: 0, count: Int(n)), dt = dz
        let bce = ck_binary_cross_entropy_logits(n, x, inputs.t, &dz, &dt)
        d.record("ck_binary_cross_entropy_logits", [bce], dz, dt)
    }

    /// ckernels_layers.h's kernels (the convolution's products on the portable GEMM).
    private func layerKernels(_ inputs: DigestInputs, _ d: inout Digests) {
        let (x, y, n) = (inputs.x, inputs.y, Int64(DigestInputs.n))
        var biased = x
        ck_bias_add(17, 60, &biased, 61, y)
        var dBias = Array(y.prefix(60))
        ck_bias_grad(17, 60, y, 61, 1, &dBias)
        d.record("ck_bias_add+ck_bias_grad", biased, dBias)
        var relu = [Float](repeating: 0, count: Int(n)), sigmoid = relu, tanh = relu
        ck_relu_forward(n, x, &relu)
        ck_sigmoid_forward(n, x, &sigmoid)
        ck_tanh_forward(n, x, &tanh)
        d.record("ck_relu_forward", relu)
        d.record("ck_sigmoid_forward", sigmoid)
        d.record("ck_tanh_forward", tanh)
        var dRelu = relu
        ck_relu_backward(n, relu, y, &dRelu)
        d.record("ck_relu_backward", dRelu)
        for (name, f, output) in [("relu", CK_ACTIVATION_RELU, relu), ("sigmoid", CK_ACTIVATION_SIGMOID, sigmoid),
                                  ("tanh", CK_ACTIVATION_TANH, tanh)] {
            var dx = x
            ck_activation_backward(f, n, output, y, 1, &dx)
            d.record("ck_activation_backward/\(name)", dx)
        }
        var dropped = [Float](repeating: 0, count: Int(n)), dDropped = dropped
        ck_dropout_forward(n, x, &dropped, 0.3, 38)
        ck_dropout_backward(n, y, &dDropped, 0.3, 38)
        d.record("ck_dropout", dropped, dDropped)

        // 2 images of 3 channels of 13 x 11 pixels, 3 x 3 windows at stride 1 and 5 x 3 ones
        // at strides 2 and 1 with padding 2 and 1.
        let (batch, channels, height, width): (Int64, Int64, Int64, Int64) = (2, 3, 13, 11)
        let images = Array(y.prefix(Int(batch * channels * height * width)))
        for (kh, kw, sh, sw, ph, pw) in [(3, 3, 1, 1, 1, 1), (5, 3, 2, 1, 2, 1)] as [(Int64, Int64, Int64, Int64, Int64, Int64)] {
            let outH = ck_conv2d_output_size(height, kh, sh, ph), outW = ck_conv2d_output_size(width, kw, sw, pw)
            var columns = [Float](repeating: 0, count: Int(channels * kh * kw * batch * outH * outW))
            var rows = columns, back = [Float](repeating: 1, count: images.count), backRows = back
            ck_im2col(batch, channels, height, width, kh, kw, sh, sw, ph, pw, images, &columns)
            ck_im2row(batch, channels, height, width, kh, kw, sh, sw, ph, pw, images, &rows)
            ck_row2im(batch, channels, height, width, kh, kw, sh, sw, ph, pw, rows, 1, &backRows)
            var scratch = columns
            ck_col2im(batch, channels, height, width, kh, kw, sh, sw, ph, pw, &scratch, &back)
            d.record("ck_im2col+ck_col2im/\(kh)x\(kw)", columns, back)
            d.record("ck_im2row+ck_row2im/\(kh)x\(kw)", rows, backRows)
        }
        let pixels: Int64 = 37
        var output = [Float](repeating: 0, count: Int(batch * 7 * pixels))
        var dz = output, dOutputBias = [Float](repeating: 1, count: 7)
        ck_conv2d_output(batch, 7, pixels, x, y, 1, &output)
        ck_conv2d_output_gradient(batch, 7, pixels, y, output, &dz, &dOutputBias)
        d.record("ck_conv2d_output+ck_conv2d_output_gradient", output, dz, dOutputBias)
        convolutions(&d)

        let planes: Int64 = 6
        // Without padding, and with padding 1 (the padding counted in the means or not).
        for (k, stride, pad, countPad) in [(3, 2, 0, 1), (2, 2, 0, 1), (3, 2, 1, 1), (3, 2, 1, 0)]
            as [(Int64, Int64, Int64, Int32)] {
            let outH = ck_pool2d_output_size(height, k, stride, pad, 0)
            let outW = ck_pool2d_output_size(width, k, stride, pad, 0)
            var pooled = [Float](repeating: 0, count: Int(planes * outH * outW)), averaged = pooled
            var argmax = [Int64](repeating: 0, count: pooled.count)
            var dx = [Float](repeating: 0, count: Int(planes * height * width)), dAverage = dx
            ck_max_pool2d_forward(planes, height, width, k, k, stride, stride, pad, pad, outH, outW,
                                  x, &pooled, &argmax)
            ck_max_pool2d_backward(planes, height, width, outH, outW, argmax, y, &dx)
            ck_avg_pool2d_forward(planes, height, width, k, k, stride, stride, pad, pad, countPad,
                                  outH, outW, y, &averaged)
            ck_avg_pool2d_backward(planes, height, width, k, k, stride, stride, pad, pad, countPad,
                                   outH, outW, y, &dAverage)
            let name = pad == 0 ? "\(k)"
                : "\(k)-padding\(pad)" + (countPad == 0 ? "-uncounted" : "")
            d.record("ck_max_pool2d/\(name)", pooled, dx, integers: argmax)
            d.record("ck_avg_pool2d/\(name)", averaged, dAverage)
        }

        // Batch norm over channels of 37 pixels, and of one pixel (channels side by side).
        for (batch, channels, pixels) in [(4, 7, 37), (37, 19, 1)] as [(Int64, Int64, Int64)] {
            let count = Int(batch * channels * pixels), c = Int(channels)
            let gamma = Array(inputs.positive.prefix(c)), beta = Array(y.suffix(c))
            var out = [Float](repeating: 0, count: count), mean = [Float](repeating: 0, count: c)
            var invStd = mean, runningMean = mean, runningVar = [Float](repeating: 1, count: c)
            ck_batch_norm_forward_training(batch, channels, pixels, y, gamma, beta, 1e-5, 0.1, &out,
                                           &mean, &invStd, &runningMean, &runningVar)
            var dx = out, dGamma = gamma, dBeta = beta
            ck_batch_norm_backward(batch, channels, pixels, y, x, gamma, mean, invStd, 1, &dx, &dGamma, &dBeta)
            d.record("ck_batch_norm_forward_training/\(pixels)", out, mean, invStd, runningMean, runningVar)
            d.record("ck_batch_norm_backward/\(pixels)", dx, dGamma, dBeta)
            ck_batch_norm_forward_inference(batch, channels, pixels, y, gamma, beta, runningMean,
                                            runningVar, 1e-5, &out, &mean, &invStd)
            ck_batch_norm_backward(batch, channels, pixels, y, x, gamma, mean, invStd, 0, &dx, &dGamma, &dBeta)
            d.record("ck_batch_norm_forward_inference/\(pixels)", out, mean, invStd, dx, dGamma, dBeta)
        }
    }

    /// ck_conv2d_forward and ck_conv2d_backward on a 3 x 3 convolution at stride 1 (in the
    /// Winograd forms) and a 5 x 5 one at stride 2 (by im2col and im2row), in pieces of 2 images.
    private func convolutions(_ d: inout Digests) {
        var rng = SeededGenerator(seed: 39)
        for (batch, channels, outs, height, width, kernel, stride) in
            [(5, 16, 7, 9, 8, 3, 1), (3, 3, 5, 13, 11, 5, 2)] as [(Int64, Int64, Int64, Int64, Int64, Int64, Int64)] {
            var p = ck_conv2d_pieces(batch: batch, channels: channels, height: height, width: width,
                                     out_channels: outs, kernel: kernel, stride: stride, pad: kernel / 2,
                                     images_per_piece: 2, slots: 2, weight_parts: 2)
            let outPixels = ck_conv2d_output_size(height, kernel, stride, kernel / 2)
                * ck_conv2d_output_size(width, kernel, stride, kernel / 2)
            let x = randomFloats(Int(batch * channels * height * width), using: &rng)
            let w = randomFloats(Int(outs * channels * kernel * kernel), using: &rng)
            let bias = randomFloats(Int(outs), using: &rng)
            let dz = randomFloats(Int(outs * batch * outPixels), using: &rng)
            var columns = [Float](repeating: 0, count: Int(2 * channels * kernel * kernel * 2 * outPixels))
            var columnGradient = columns
            var product = [Float](repeating: 0, count: Int(2 * outs * 2 * outPixels))
            var y = [Float](repeating: 0, count: Int(batch * outs * outPixels))
            ck_conv2d_forward(&p, x, w, bias, 1, &columns, &product, &y)
            var dw = [Float](repeating: 1, count: w.count), dx = [Float](repeating: 1, count: x.count)
            var scratch = [Float](repeating: 0, count: max(1, Int(ck_conv2d_backward_scratch(&p, 1, 1))))
            ck_conv2d_backward(&p, x, dz, w, &dw, 0.5, &scratch, &dx, 1, &columns, &columnGradient)
            d.record("ck_conv2d_forward+ck_conv2d_backward/\(kernel)x\(kernel)", y, dw, dx)
        }
    }

    /// ckernels_training.h's kernels.
    private func trainingKernels(_ inputs: DigestInputs, _ d: inout Digests) {
        let (x, y, t, n) = (inputs.x, inputs.y, inputs.t, Int64(DigestInputs.n))
        for classes in [3, 10, 20, 50, 61, 300] as [Int64] {
            let rows = n / classes
            let labels = (0..<Int(rows)).map { Int32($0 * 7 % Int(classes)) }
            var marginLoss: Float = 0, crossEntropyLoss: Float = 0, lossOnly: Float = 0
            var probs = [Float](repeating: 0, count: Int(rows * classes)), dSoftmax = probs, dMargin = probs
            var dLogits = probs
            ck_softmax(rows, classes, y, &probs)
            ck_softmax_backward(rows, classes, probs, x, 0, &dSoftmax)
            d.record("ck_softmax/\(classes)", probs, dSoftmax)
            ck_multi_margin(rows, classes, y, labels, &dMargin, &marginLoss)
            d.record("ck_multi_margin/\(classes)", [marginLoss], dMargin)
            XCTAssertEqual(ck_softmax_cross_entropy(rows, classes, y, labels, &dLogits, &crossEntropyLoss), 0)
            XCTAssertEqual(ck_softmax_cross_entropy(rows, classes, y, labels, nil, &lossOnly), 0)
            d.record("ck_softmax_cross_entropy/\(classes)", [crossEntropyLoss, lossOnly], dLogits)
        }
        var loss: Float = 0, dp = [Float](repeating: 0, count: Int(n))
        ck_mean_squared_error(n, y, t, &dp, &loss)
        d.record("ck_mean_squared_error", [loss], dp)
        ck_l1_loss(n, y, t, &dp, &loss)
        d.record("ck_l1_loss", [loss], dp)
        ck_huber_loss(n, 0.7, y, t, &dp, &loss)
        d.record("ck_huber_loss", [loss], dp)
        var grad = x
        let penalty = ck_penalty(n, y, &grad, 0.01, 0.02)
        d.record("ck_penalty", [Float(penalty)], grad)

        for (nesterov, firstStep) in [(0, 1), (1, 0)] as [(Int32, Int32)] {
            var param = y, velocity = t
            ck_sgd(n, &param, x, &velocity, 0.1, 0.9, 0.1 * Float(1 - nesterov), 0.01, nesterov, 0, firstStep)
            d.record("ck_sgd/\(nesterov)", param, velocity)
        }
        for decoupled in [0, 1] as [Int32] {
            var param = y, expAvg = x.map { $0 * 0.1 }, expAvgSq = inputs.positive
            ck_adam(n, &param, x, &expAvg, &expAvgSq, nil, 0.01, 0.9, 0.999, 1e-8, 0.01, 0, decoupled, 0.1, 0.001)
            d.record("ck_adam/\(decoupled)", param, expAvg, expAvgSq)
        }
        var param = y, squareAvg = inputs.positive, gradAvg = t, momentumBuffer = x
        ck_rmsprop(n, &param, x, &squareAvg, &gradAvg, &momentumBuffer, 0.01, 0.99, 1e-8, 0.01, 0.9, 0)
        d.record("ck_rmsprop", param, squareAvg, gradAvg, momentumBuffer)
    }
}
