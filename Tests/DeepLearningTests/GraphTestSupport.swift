@testable import DeepLearning

/// A leaf that requires a gradient, of `shape`, values uniform in `range`: an input for
/// `gradientCheck`.
func differentiableTensor(_ shape: [Int], in range: Range<Float> = -1..<1,
                          using generator: inout SeededGenerator) -> Tensor {
    let x = randomTensor(shape, in: range, using: &generator)
    x.requiresGradient = true
    return x
}
