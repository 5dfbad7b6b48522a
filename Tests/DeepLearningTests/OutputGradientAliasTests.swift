import XCTest
@testable import DeepLearning

/// `backward(_:)` given a leaf's own gradient as the output gradient (`y.backward(x.gradient!)`,
/// x a leaf of y's graph, or `layer.backward(layer.weight.gradient!)`): the pass adds into that
/// buffer while it reads the output gradient, so it must read what the buffer held when
/// `backward` was called, as PyTorch does (its operations compute each gradient into a new
/// tensor before adding it to `.grad`).
final class OutputGradientAliasTests: XCTestCase {
    /// x [n, n] with gradient g0 = x.gradient, y = matmul(x, w): after y.backward(g0), x's
    /// gradient is g0 + g0 · wᵀ, and w's is xᵀ · g0.
    private func checkProduct(_ graph: (Tensor, Tensor) -> Tensor, _ what: String) {
        let n = 40
        var generator = SeededGenerator(seed: 31)
        let x = randomTensor([n, n], using: &generator)
        x.requiresGradient = true
        let w = randomTensor([n, n], using: &generator)
        w.requiresGradient = true
        let g0 = (0..<n * n).map { Float($0 % 7) - 3 }
        x.gradient(fill: g0)
        let (xv, wv) = (x.values, w.values)
        var dx = [Double](repeating: 0, count: n * n), dw = dx
        for i in 0..<n {
            for j in 0..<n {
                dx[i * n + j] = Double(g0[i * n + j])
                for k in 0..<n {
                    dx[i * n + j] += Double(g0[i * n + k]) * Double(wv[j * n + k])
                    dw[i * n + j] += Double(xv[k * n + i]) * Double(g0[k * n + j])
                }
            }
        }
        graph(x, w).backward(x.gradient!)
        assertClose(x.gradients, dx, tolerance: 1e-4, "\(what): x's gradient")
        assertClose(w.gradients, dw, tolerance: 1e-4, "\(what): w's gradient")
    }

    func testALeafsGradientAsTheOutputGradientOfAProduct() {
        checkProduct({ matmul($0, $1) }, "matmul(x, w)")
    }

    /// The same output gradient handed on through `+ 0` to the product (no copy).
    func testALeafsGradientHandedOnToAProduct() {
        checkProduct({ matmul($0, $1) + 0 }, "matmul(x, w) + 0")
    }

    /// A layer's backward pass given its own weight's gradient as dy
    /// (`layer.backward(layer.weight.gradient!)`, shapes chosen so that it fits): the same
    /// gradients, bit for bit, as given a copy of it; by the layer's `backward`, its
    /// `accumulateParameterGradients`, and a `Model`'s `backward`.
    func testALayersOwnWeightGradientAsItsOutputGradient() {
        var generator = SeededGenerator(seed: 32)
        // Linear(3, 3) on a batch of 3: dy [3, 3] is W's shape. Conv2D(2 → 2, 3 × 3,
        // padding 1) on 2 images of 3 × 3: dY [2, 2, 3, 3] is W's shape. BatchNorm(3) in
        // evaluation on a batch of 1: dy [1, 3] is γ's gradient reshaped (the same storage).
        let linear = Linear(3, 3)
        let convolution = Conv2D(inputChannels: 2, outputChannels: 2, kernelSize: 3, padding: 1)
        let norm = BatchNorm(features: 3)
        norm.setTraining(false)
        let cases: [(String, any Function, Tensor, [Int])] = [
            ("Linear", linear, linear.weight, [3, 3]),
            ("Conv2D", convolution, convolution.weight, [2, 2, 3, 3]),
            ("BatchNorm", norm, norm.weight, [1, 3]),
        ]
        for (name, layer, weight, inputShape) in cases {
            let x = randomTensor(inputShape, using: &generator)
            let g0 = (0..<weight.count).map { Float($0 % 5) - 2 }
            let model = Model([layer])
            model.setTraining(false) // BatchNorm's evaluation; the others have no modes
            // Each pass: its forward, then its backward returning dx (or nothing).
            let passes: [(String, () -> Void, (Tensor) -> [Float])] = [
                ("backward", { _ = layer.forward(x) }, { layer.backward($0).values }),
                ("accumulateParameterGradients", { _ = layer.forward(x) }, {
                    layer.accumulateParameterGradients($0)
                    return []
                }),
                ("Model.backward", { _ = model.forward(x) }, { model.backward($0).values }),
            ]
            for (pass, forward, backward) in passes {
                func gradients(aliased: Bool) -> [UInt32] {
                    for parameter in layer.parameters { parameter.zeroGradient() }
                    weight.gradient(fill: g0)
                    forward()
                    let dy = (aliased ? weight.gradient! : Tensor(shape: weight.shape, values: g0))
                        .reshaped(inputShape)
                    let dx = backward(dy)
                    return (dx + layer.parameters.flatMap(\.gradients)).map(\.bitPattern)
                }
                XCTAssertEqual(gradients(aliased: true), gradients(aliased: false),
                               "\(name) \(pass)")
            }
        }
    }
}

private extension Tensor {
    /// Gives this leaf the gradient `values`.
    func gradient(fill values: [Float]) {
        (self * 0).sum().backward()
        let buffer = gradient!.value
        for (i, v) in values.enumerated() { buffer[i] = v }
    }
}
