import XCTest
@testable import DeepLearning

final class SGDTests: XCTestCase {
    /// PyTorch's rule, v = momentum·v + (g + wd·p), p −= lr·v, with lr 0.1, momentum 0.9,
    /// wd 0.01 and a constant gradient, worked out by hand:
    ///   p = 1, g = 0.5:
    ///     step 1: v = 0.5 + 0.01·1 = 0.51;                  p = 1 − 0.051 = 0.949
    ///     step 2: v = 0.9·0.51 + 0.5 + 0.01·0.949 = 0.96849; p = 0.949 − 0.096849 = 0.852151
    ///     step 3: v = 0.9·0.96849 + 0.5 + 0.00852151 = 1.38016251; p = 0.714134749
    ///   p = −2, g = −1:
    ///     step 1: v = −1 − 0.02 = −1.02;                     p = −2 + 0.102 = −1.898
    ///     step 2: v = −0.918 − 1 − 0.01898 = −1.93698;       p = −1.7043020
    ///     step 3: v = −1.743282 − 1 − 0.01704302 = −2.76032502; p = −1.428269498
    func testMomentumAndWeightDecayOverThreeSteps() {
        let parameter = Tensor(shape: [2], values: [1, -2])
        let optimizer = SGD(parameters: [parameter], learningRate: 0.1, momentum: 0.9,
                            weightDecay: 0.01)
        let expected: [[Double]] = [[0.949, -1.898], [0.852151, -1.704302],
                                    [0.714134749, -1.428269498]]
        for step in expected {
            optimizer.zeroGrad()
            parameter.withUnsafeMutableGradientBufferPointer { $0[0] = 0.5; $0[1] = -1 }
            optimizer.step()
            assertClose(parameter.values, step, tolerance: 1e-6, "parameters")
        }
    }

    /// Momentum 0, no weight decay: p −= lr·g, step after step.
    func testPlainSGD() {
        let parameter = Tensor(shape: [3], values: [1, 2, 3])
        let optimizer = SGD(parameters: [parameter], learningRate: 0.5)
        for step in 1...2 {
            optimizer.zeroGrad()
            parameter.withUnsafeMutableGradientBufferPointer { for i in 0..<3 { $0[i] = Float(i + 1) } }
            optimizer.step()
            assertClose(parameter.values, [1, 2, 3].map { $0 - 0.5 * Double(step) * $0 },
                        tolerance: 1e-7, "step \(step)")
        }
    }

    /// Dampening 0.5, momentum 0.9, lr 0.1. PyTorch's first step copies g into the buffer
    /// undampened; later steps add (1 − 0.5)·g:
    ///   p = 1, g = 0.5:
    ///     step 1: b = 0.5;                      p = 1 − 0.05 = 0.95
    ///     step 2: b = 0.45 + 0.25 = 0.7;        p = 0.95 − 0.07 = 0.88
    ///     step 3: b = 0.63 + 0.25 = 0.88;       p = 0.88 − 0.088 = 0.792
    ///   p = −2, g = −1:
    ///     step 1: b = −1;                       p = −1.9
    ///     step 2: b = −0.9 − 0.5 = −1.4;        p = −1.76
    ///     step 3: b = −1.26 − 0.5 = −1.76;      p = −1.584
    /// (Dampening the first step too would give b = 0.25 and p = 0.975 after step 1.)
    func testDampeningSparesTheFirstStep() {
        assertSteps([[0.95, -1.9], [0.88, -1.76], [0.792, -1.584]]) {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.5)
        }
    }

    /// Without momentum PyTorch keeps no buffer and ignores dampening: p −= 0.1·g each step,
    /// p = 1 → 0.95 → 0.9 → 0.85 and p = −2 → −1.9 → −1.8 → −1.7.
    func testDampeningWithoutMomentumIsPlainSGD() {
        assertSteps([[0.95, -1.9], [0.9, -1.8], [0.85, -1.7]]) {
            SGD(parameters: $0, learningRate: 0.1, dampening: 0.5)
        }
    }

    /// Nesterov, momentum 0.9, weight decay 0.01, lr 0.1: g = grad + 0.01·p, b as without
    /// Nesterov, direction d = g + 0.9·b:
    ///   p = 1, grad 0.5:
    ///     step 1: g = 0.51;         b = 0.51;                    d = 0.969;       p = 0.9031
    ///     step 2: g = 0.509031;     b = 0.459 + 0.509031 = 0.968031;
    ///                               d = 0.509031 + 0.8712279 = 1.3802589;     p = 0.76507411
    ///     step 3: g = 0.5076507411; b = 0.8712279 + 0.5076507411 = 1.3788786411;
    ///                               d = 1.7486415181;                         p = 0.5902099582
    ///   p = −2, grad −1:
    ///     step 1: g = −1.02;        b = −1.02;                   d = −1.938;      p = −1.8062
    ///     step 2: g = −1.018062;    b = −1.936062;               d = −2.7605178;  p = −1.53014822
    ///     step 3: g = −1.015301482; b = −2.757757282;            d = −3.497283036; p = −1.180419916
    func testNesterovMomentumWithWeightDecay() {
        assertSteps([[0.9031, -1.8062], [0.76507411, -1.53014822], [0.5902099582, -1.180419916]]) {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true)
        }
    }

    /// A tensor listed twice would be stepped twice a step.
    func testAParameterListedTwiceStops() throws {
        try assertStops(withMessage: "SGD: parameter 2 (shape [2, 3]) is parameter 0 again; list each parameter once, else it counts twice") {
            let layer = Linear(2, 3)
            _ = SGD(parameters: layer.parameters + layer.parameters, learningRate: 0.1)
        }
    }

    func testNesterovWithoutMomentumStops() throws {
        try assertStops(withMessage: "SGD: Nesterov momentum requires a momentum and zero dampening") {
            _ = SGD(parameters: [], learningRate: 0.1, nesterov: true)
        }
    }

    func testNesterovWithDampeningStops() throws {
        try assertStops(withMessage: "SGD: Nesterov momentum requires a momentum and zero dampening") {
            _ = SGD(parameters: [], learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)
        }
    }

    func testNegativeLearningRateStops() throws {
        try assertStops(withMessage: "SGD: learning rate -0.1 must not be negative") {
            _ = SGD(parameters: [], learningRate: -0.1)
        }
    }

    func testSettingANegativeLearningRateStops() throws {
        try assertStops(withMessage: "SGD: learning rate -0.5 must not be negative") {
            let optimizer = SGD(parameters: [], learningRate: 0.1)
            optimizer.learningRate = -0.5   // as a schedule of one's own might
        }
    }

    /// PyTorch accepts an infinite rate; its first step makes every parameter with a gradient
    /// infinite or NaN, and a training checkpoint could not restore it.
    /// PyTorch accepts an infinite momentum; the buffers would turn infinite or NaN.
    func testInfiniteMomentumStops() throws {
        try assertStops(withMessage: "SGD: momentum inf must be finite: the momentum buffers would turn infinite or NaN at the second step") {
            _ = SGD(parameters: [], learningRate: 0.1, momentum: .infinity)
        }
    }

    func testInfiniteLearningRateStops() throws {
        try assertStops(withMessage: "SGD: learning rate inf must be finite: a step at an infinite rate makes every parameter with a gradient infinite or NaN") {
            _ = SGD(parameters: [], learningRate: .infinity)
        }
    }

    func testSettingAnInfiniteLearningRateStops() throws {
        try assertStops(withMessage: "SGD: learning rate inf must be finite: a step at an infinite rate makes every parameter with a gradient infinite or NaN") {
            SGD(parameters: [], learningRate: 0.1).learningRate = .infinity
        }
    }

    /// PyTorch does not check dampening: NaN or infinity would make the momentum buffers NaN
    /// or infinite at the second step.
    func testNaNDampeningStops() throws {
        try assertStops(withMessage: "SGD: dampening is NaN; it must be a finite number") {
            _ = SGD(parameters: [], learningRate: 0.1, momentum: 0.9, dampening: .nan)
        }
    }

    func testInfiniteDampeningStops() throws {
        try assertStops(withMessage: "SGD: dampening -inf must be finite: (1 − dampening) · g would turn the momentum buffers infinite or NaN at the second step") {
            _ = SGD(parameters: [], learningRate: 0.1, momentum: 0.9, dampening: -.infinity)
        }
    }

    /// Any finite dampening is accepted, as in PyTorch: b = 0.9 · b + (1 − dampening) · g
    /// after the first step, with g = (0.5, −1) each step:
    ///   dampening −0.5: b₂ = (1.2, −2.4);    p = (0.95, −1.9), then (0.83, −1.66)
    ///   dampening 2:    b₂ = (−0.05, 0.1);   p = (0.95, −1.9), then (0.955, −1.91)
    func testFiniteDampeningOutsideZeroToOneIsAccepted() {
        assertSteps([[0.95, -1.9], [0.83, -1.66]]) {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: -0.5)
        }
        assertSteps([[0.95, -1.9], [0.955, -1.91]]) {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 2)
        }
    }

    func testNegativeMomentumStops() throws {
        try assertStops(withMessage: "SGD: momentum -0.9 must not be negative") {
            _ = SGD(parameters: [], learningRate: 0.1, momentum: -0.9)
        }
    }

    func testInfiniteWeightDecayStops() throws {
        try assertStops(withMessage: "SGD: weight decay inf must be finite: every parameter would turn infinite or NaN at its first step") {
            _ = SGD(parameters: [], learningRate: 0.1, weightDecay: .infinity)
        }
    }

    func testNegativeWeightDecayStops() throws {
        try assertStops(withMessage: "SGD: weight decay -0.01 must not be negative") {
            _ = SGD(parameters: [], learningRate: 0.1, weightDecay: -0.01)
        }
    }

    func testZeroGradClearsEveryParameter() {
        let tensors = [Tensor(shape: [2, 2]), Tensor(shape: [3])]
        for tensor in tensors { tensor.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 7) } }
        SGD(parameters: tensors, learningRate: 0.1).zeroGrad()
        XCTAssertEqual(tensors.flatMap(\.gradients), [Float](repeating: 0, count: 7))
    }
}
