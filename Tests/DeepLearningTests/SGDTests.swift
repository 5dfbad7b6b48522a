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
            parameter.gradient[0] = 0.5
            parameter.gradient[1] = -1
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
            for i in 0..<3 { parameter.gradient[i] = Float(i + 1) }
            optimizer.step()
            assertClose(parameter.values, [1, 2, 3].map { $0 - 0.5 * Double(step) * $0 },
                        tolerance: 1e-7, "step \(step)")
        }
    }

    func testZeroGradClearsEveryParameter() {
        let tensors = [Tensor(shape: [2, 2]), Tensor(shape: [3])]
        for tensor in tensors { tensor.gradient.update(repeating: 7, count: tensor.count) }
        SGD(parameters: tensors, learningRate: 0.1).zeroGrad()
        XCTAssertEqual(tensors.flatMap(\.gradients), [Float](repeating: 0, count: 7))
    }
}
