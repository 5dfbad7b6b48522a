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

/// Each optimizer with `maximize`, and the same optimizers without it: SGD plain, with
/// momentum, dampening and weight decay, and Nesterov's; Adam with weight decay, and with
/// amsgrad; AdamW, and with amsgrad; RMSProp with weight decay, and centered with momentum.
let maximizingOptimizers: [(name: String, make: @Sendable ([Tensor], _ maximize: Bool) -> any Optimizer)] = [
    ("SGD", { SGD(parameters: $0, learningRate: 0.05, maximize: $1) }),
    ("SGD with momentum", {
        SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2, maximize: $1)
    }),
    ("Nesterov", {
        SGD(parameters: $0, learningRate: 0.05, momentum: 0.8, weightDecay: 0.01, nesterov: true, maximize: $1)
    }),
    ("Adam", { Adam(parameters: $0, learningRate: 0.01, weightDecay: 1e-2, maximize: $1) }),
    ("Adam amsgrad", { Adam(parameters: $0, learningRate: 0.01, amsgrad: true, maximize: $1) }),
    ("AdamW", { AdamW(parameters: $0, learningRate: 0.01, maximize: $1) }),
    ("AdamW amsgrad", { AdamW(parameters: $0, learningRate: 0.01, amsgrad: true, maximize: $1) }),
    ("RMSProp", { RMSProp(parameters: $0, learningRate: 0.01, weightDecay: 1e-2, maximize: $1) }),
    ("centered RMSProp", {
        RMSProp(parameters: $0, learningRate: 0.01, weightDecay: 1e-2, momentum: 0.9, centered: true,
                maximize: $1)
    }),
]
