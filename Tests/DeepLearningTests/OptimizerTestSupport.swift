import XCTest
@testable import DeepLearning

/// Builds an optimizer over one parameter [1, −2], gives it the gradient [0.5, −1] before
/// every step, and checks the parameter after each step against `expected` (one row per
/// step): the setting of the hand-worked optimizer tests, whose numbers were checked against
/// torch.optim in float64 (agreement within 3e-16).
func assertSteps(_ expected: [[Double]], tolerance: Double = 1e-6,
                 file: StaticString = #filePath, line: UInt = #line,
                 of makeOptimizer: ([Tensor]) -> Optimizer) {
    let parameter = Tensor(shape: [2], values: [1, -2])
    let optimizer = makeOptimizer([parameter])
    for (step, values) in expected.enumerated() {
        optimizer.zeroGrad()
        parameter.withUnsafeMutableGradientBufferPointer { $0[0] = 0.5; $0[1] = -1 }
        optimizer.step()
        assertClose(parameter.values, values, tolerance: tolerance, "parameters after step \(step + 1)",
                    file: file, line: line)
    }
}
