/// A gradient that `gradientCheck` found to disagree with its finite-difference estimate.
///
/// ```swift
/// do {
///     try gradientCheck(at: [x]) { inputs in myOperation(inputs[0]).sum() }
/// } catch let failure as GradientCheckFailure {
///     print(failure.input, failure.element, failure.analytic, failure.numeric)
/// }
/// ```
public struct GradientCheckFailure: Error, CustomStringConvertible {
    /// The index of the input in the array given to `gradientCheck`.
    public let input: Int
    /// The element of that input, as a row-major index.
    public let element: Int
    /// The gradient `backward()` computed.
    public let analytic: Double
    /// The central finite-difference estimate.
    public let numeric: Double
    /// The largest difference the tolerances allowed there.
    public let allowed: Double

    public var description: String {
        "gradientCheck: input \(input), element \(element): backward() gives \(analytic), central finite differences \(numeric) (difference \(Swift.abs(analytic - numeric)), allowed \(allowed))"
    }
}

/// Compares the gradients `backward()` computes for `function` at `inputs` with central
/// finite differences, and throws a `GradientCheckFailure` naming the first input and element
/// where they disagree. PyTorch's `torch.autograd.gradcheck`, for Float32 tensors.
///
/// The function's output `y` is reduced to the scalar L = Σ wᵢ·yᵢ, with weights wᵢ drawn
/// uniformly from [−1, 1) (from `seed`; 1 for a one-element output), so that every output
/// element's gradient is checked. Analytic: `y.backward(w)` after zeroing the inputs'
/// gradients, then a second evaluation's `backward(w)` added to it (so that the kernels' paths
/// that overwrite a gradient and those that add to one are both checked: the sum must be twice
/// the first; the inputs' gradients are zeroed at the end). Numeric: for each element x of each
/// input that requires a gradient, (L(x + step) − L(x − step)) / (2·step), with L summed in
/// Double over the Float32 outputs of `function` run without recording. They agree when
/// |analytic − numeric| ≤ absoluteTolerance + relativeTolerance·|numeric|.
///
/// Why these defaults for Float32: the estimate's truncation error is step²/6 · L‴, about
/// 2e-5·L‴ for step 1e-2; its rounding error is about ε·|y|·√n / (2·step) for n outputs of size
/// |y| (ε = 6e-8, Float32's half ulp), 3e-6·|y|·√n. A step of 1e-3 would make the rounding
/// error ten times larger and the truncation error a hundred times smaller. The tolerances
/// (1e-3 absolute, 1e-2 relative) then leave a margin of ten or more for smooth functions
/// whose third derivatives are of order 1 to 100 at the inputs. Keep inputs at least `step`
/// away from kinks (0 for `relu` and `abs`, ties for `max`), where finite differences do not
/// estimate the gradient.
///
/// `step` must be finite and above 0 (else the program stops with a message naming it).
/// Inputs must be leaves; those that do not require a gradient are held fixed. Their values
/// are restored afterwards (the perturbations raise their `version`). An error `function`
/// throws (a loss over labels, such as `crossEntropy(_:labels:)`) is rethrown, with the
/// inputs' values restored and their gradients zeroed.
///
/// ```swift
/// let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6], requiresGradient: true)
/// let b = Tensor(shape: [3], values: [0.5, -1, 2], requiresGradient: true)
/// try gradientCheck(at: [a, b]) { x in sin(x[0]) * x[1] }
/// try gradientCheck(at: [a]) { x in try crossEntropy(x[0], labels: [2, 0]) }
/// ```
public func gradientCheck(at inputs: [Tensor], step: Float = 1e-2,
                          absoluteTolerance: Double = 1e-3, relativeTolerance: Double = 1e-2,
                          seed: UInt64 = 0, _ function: ([Tensor]) throws -> Tensor) throws {
    require(step > 0 && step.isFinite,
            "gradientCheck: step \(step) must be finite and above 0 (the finite differences divide by it)")
    require(inputs.allSatisfy(\.isLeaf),
            "gradientCheck: the inputs must be leaves; input shapes \(inputs.map(\.shape)), leaves \(inputs.map(\.isLeaf))")
    require(inputs.contains(where: \.requiresGradient),
            "gradientCheck: no input requires a gradient")
    let output = try function(inputs)
    require(output.requiresGradient,
            "gradientCheck: the output of shape \(output.shape) requires no gradient (was it computed from the inputs?)")
    var generator = SeededGenerator(seed: seed)
    let weights = output.count == 1
        ? [Float](repeating: 1, count: output.count)
        : (0..<output.count).map { _ in Float(generator.next() >> 40) * 0x1p-23 - 1 }
    let outputGradient = Tensor(shape: output.shape, values: weights)
    for input in inputs where input.requiresGradient {
        _ = input.gradientPointer // allocated, so that zeroing makes the next pass overwrite it
        input.zeroGradient()
    }
    defer { for input in inputs { input.zeroGradient() } }
    output.backward(outputGradient)
    let analytic = inputs.map { $0.requiresGradient ? $0.gradients : [] }
    try function(inputs).backward(outputGradient)
    let accumulated = inputs.map { $0.requiresGradient ? $0.gradients : [] }

    func weightedSum() throws -> Double {
        let y = try withoutGradientRecording { try function(inputs) }
        return y.withUnsafeBufferPointer { values in
            zip(values, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
    }
    for (index, input) in inputs.enumerated() where input.requiresGradient {
        for element in 0..<input.count {
            let original = input.value[element]
            let (above, below) = try {
                defer { input.withUnsafeMutableBufferPointer { $0[element] = original } }
                input.withUnsafeMutableBufferPointer { $0[element] = original + step }
                let above = try weightedSum()
                input.withUnsafeMutableBufferPointer { $0[element] = original - step }
                return (above, try weightedSum())
            }()
            // The step actually taken, in Float: original ± step rounds.
            let numeric = (above - below)
                / (Double(original + step) - Double(original - step))
            let allowed = absoluteTolerance + relativeTolerance * Swift.abs(numeric)
            for gradient in [Double(analytic[index][element]),
                             Double(accumulated[index][element]) / 2]
            where !(Swift.abs(gradient - numeric) <= allowed) {
                throw GradientCheckFailure(input: index, element: element, analytic: gradient,
                                           numeric: numeric, allowed: allowed)
            }
        }
    }
}
