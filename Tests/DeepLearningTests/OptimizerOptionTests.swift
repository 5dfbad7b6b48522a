import XCTest
@testable import DeepLearning

/// PyTorch's `amsgrad` (Adam, AdamW) and `maximize` (every optimizer): their rules against a
/// reference in Double, maximize against minimizing with the negated gradient bit for bit,
/// and both independent of the thread count.
final class OptimizerOptionTests: XCTestCase {
    override func tearDown() { Threads.reset() }

    /// The gradients of the four steps below, per element of a parameter [1, −2]: element 0's
    /// shrink after the first step, so its v falls and amsgrad's v_max keeps step 1's.
    private static let gradients: [[Double]] = [[0.5, -1], [0.05, 2], [0.01, -0.1], [0.02, 0.01]]

    /// PyTorch's Adam (AdamW when `decoupled`) over `gradients`, in Double: the parameters
    /// after each step and the final v and v_max.
    private static func adamReference(decoupled: Bool, amsgrad: Bool, maximize: Bool)
        -> (parameters: [[Double]], v: [Double], vMax: [Double])
    {
        let (lr, beta1, beta2, eps, weightDecay) = (0.1, 0.8, 0.9, 0.01, 0.1)
        var p = [1.0, -2.0], m = [0.0, 0.0], v = [0.0, 0.0], vMax = [0.0, 0.0]
        var parameters: [[Double]] = []
        for (index, gradient) in gradients.enumerated() {
            let t = Double(index + 1)
            for i in 0..<2 {
                var g = maximize ? -gradient[i] : gradient[i]
                if decoupled { p[i] *= 1 - lr * weightDecay } else { g += weightDecay * p[i] }
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                vMax[i] = max(vMax[i], v[i])
                let vHat = (amsgrad ? vMax[i] : v[i]) / (1 - pow(beta2, t))
                p[i] -= lr * (m[i] / (1 - pow(beta1, t))) / (vHat.squareRoot() + eps)
            }
            parameters.append(p)
        }
        return (parameters, v, vMax)
    }

    /// Adam and AdamW with amsgrad and maximize, each on and off, follow PyTorch's rule step
    /// by step; with amsgrad the buffer max_exp_avg_sq holds the largest v, above the last v
    /// of element 0 (whose v fell), and the steps differ from those without amsgrad.
    func testAdamAmsgradAndMaximizeFollowTheirRules() {
        for decoupled in [false, true] {
            for (amsgrad, maximize) in [(false, true), (true, false), (true, true)] {
                let what = "decoupled \(decoupled), amsgrad \(amsgrad), maximize \(maximize)"
                let expected = Self.adamReference(decoupled: decoupled, amsgrad: amsgrad, maximize: maximize)
                let parameter = Tensor(shape: [2], values: [1, -2])
                let optimizer: any Optimizer = decoupled
                    ? AdamW(parameters: [parameter], learningRate: 0.1, betas: (0.8, 0.9), eps: 0.01,
                            weightDecay: 0.1, amsgrad: amsgrad, maximize: maximize)
                    : Adam(parameters: [parameter], learningRate: 0.1, betas: (0.8, 0.9), eps: 0.01,
                           weightDecay: 0.1, amsgrad: amsgrad, maximize: maximize)
                for (step, gradient) in Self.gradients.enumerated() {
                    optimizer.zeroGrad()
                    parameter.withUnsafeMutableGradientBufferPointer {
                        $0[0] = Float(gradient[0]); $0[1] = Float(gradient[1])
                    }
                    optimizer.step()
                    assertClose(parameter.values, expected.parameters[step], tolerance: 1e-6,
                                "\(what), step \(step + 1)")
                }
                let buffers = Dictionary(uniqueKeysWithValues: optimizer.checkpointContents.tensors
                    .map { ($0.name, $0.tensor.values) })
                XCTAssertEqual(buffers["max_exp_avg_sq.0"] == nil, !amsgrad, what)
                guard amsgrad else { continue }
                assertClose(buffers["max_exp_avg_sq.0"]!, expected.vMax, tolerance: 1e-6, what)
                assertClose(buffers["exp_avg_sq.0"]!, expected.v, tolerance: 1e-6, what)
                XCTAssertGreaterThan(expected.vMax[0], 1.1 * expected.v[0], what)
                let without = Self.adamReference(decoupled: decoupled, amsgrad: false, maximize: maximize)
                XCTAssertGreaterThan(abs(without.parameters[3][0] - expected.parameters[3][0]), 1e-3, what)
            }
        }
    }

    /// SGD with maximize goes up the gradient: p = p + lr · g (lr 0.1, g [0.5, −1]).
    func testSGDMaximizeGoesUpTheGradient() {
        assertSteps([[1.05, -2.1], [1.1, -2.2], [1.15, -2.3]]) {
            SGD(parameters: $0, learningRate: 0.1, maximize: true)
        }
    }

    /// Four steps with random gradients on two parameters (one of 70,001 elements, so that the
    /// kernels open parallel regions; the small one without a gradient at step 3), each
    /// gradient negated when `negated`: the parameters and buffers after every step.
    private static func train(_ make: ([Tensor], Bool) -> any Optimizer, maximize: Bool,
                              negated: Bool) -> [[Float]] {
        var generator = SeededGenerator(seed: 11)
        let parameters = [randomTensor([70_001], using: &generator), randomTensor([3, 5], using: &generator)]
        let optimizer = make(parameters, maximize)
        var states: [[Float]] = []
        for step in 1...4 {
            optimizer.zeroGrad()
            for (index, parameter) in parameters.enumerated() where step != 3 || index == 0 {
                let gradient = randomTensor(parameter.shape, using: &generator).values
                parameter.withUnsafeMutableGradientBufferPointer {
                    for i in $0.indices { $0[i] = negated ? -gradient[i] : gradient[i] }
                }
            }
            optimizer.step()
            states.append(parameters.flatMap(\.values)
                + optimizer.checkpointContents.tensors.flatMap(\.tensor.values))
        }
        return states
    }

    /// Maximizing follows the negated gradient (minimizing the negated loss), bit for bit,
    /// parameters and buffers.
    func testMaximizeEqualsMinimizingTheNegatedLoss() {
        for (name, make) in maximizingOptimizers {
            XCTAssertEqual(Self.train(make, maximize: true, negated: false).map { $0.map(\.bitPattern) },
                           Self.train(make, maximize: false, negated: true).map { $0.map(\.bitPattern) }, name)
        }
    }

    /// With maximize and amsgrad the steps are the same bits on 1 and 2 threads.
    func testMaximizeAndAmsgradAreIndependentOfTheThreadCount() {
        for (name, make) in maximizingOptimizers {
            Threads.count = 1
            let serial = Self.train(make, maximize: true, negated: false)
            Threads.count = 2
            let parallel = Self.train(make, maximize: true, negated: false)
            XCTAssertEqual(serial.map { $0.map(\.bitPattern) }, parallel.map { $0.map(\.bitPattern) }, name)
        }
    }
}
