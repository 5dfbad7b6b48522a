/// How a parameter tensor gets its first values.
///
/// `fanIn` and `fanOut` are the numbers of inputs and outputs of the layer that owns the
/// tensor (for `Linear(in, out)`: `in` and `out`); the He initializers need `fanIn` of at
/// least 1, the Glorot ones both of at least 1.
///
/// ```swift
/// let layer = Linear(2, 100, weightInitializer: .heNormal)
/// let tanhLayer = Linear(100, 3, weightInitializer: .glorotUniform)
/// ```
public enum Initializer: Sendable, Equatable {
    /// Every value `c`.
    case constant(Float)
    /// Uniform on `low..<high`.
    case uniform(low: Float, high: Float)
    /// Normal with mean 0 and standard deviation `std` (the article's weights: `std` 0.01).
    case normal(std: Float)
    /// Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fanIn + fanOut)).
    case glorotUniform
    /// Glorot/Xavier normal: N(0, 2 / (fanIn + fanOut)).
    case glorotNormal
    /// He/Kaiming normal, for ReLU networks: N(0, 2 / fanIn).
    case heNormal
    /// He/Kaiming uniform: U(-a, a) with a = sqrt(6 / fanIn).
    case heUniform

    /// Zeros.
    public static let zeros = Initializer.constant(0)

    /// Overwrites the values of `tensor` with samples of this distribution. Stops with a
    /// message when its parameters are out of range: a uniform range that is empty or not of
    /// finite width, a standard deviation that is negative or not finite, a fan below 1.
    public func fill(_ tensor: Tensor, fanIn: Int, fanOut: Int,
                     using generator: inout SeededGenerator) {
        switch self {
        case .constant, .uniform, .normal: break
        case .heNormal, .heUniform:
            require(fanIn >= 1, "Initializer.\(self): fanIn \(fanIn) must be at least 1")
        case .glorotNormal, .glorotUniform:
            require(fanIn >= 1 && fanOut >= 1,
                    "Initializer.\(self): fanIn \(fanIn) and fanOut \(fanOut) must be at least 1")
        }
        let values = UnsafeMutableBufferPointer(start: tensor.value, count: tensor.count)
        tensor.countInPlaceWrite()
        switch self {
        case let .constant(c):
            values.update(repeating: c)
        case let .uniform(low, high):
            require(low < high, "Initializer.uniform: low \(low) must be below high \(high)")
            require((high - low).isFinite,
                    "Initializer.uniform: the range \(low)..<\(high) must have a finite width")
            for i in values.indices { values[i] = Float.random(in: low..<high, using: &generator) }
        case let .normal(std):
            require(std >= 0 && std.isFinite,
                    "Initializer.normal: std \(std) must be finite and not negative")
            for i in values.indices { values[i] = std * generator.nextNormal() }
        case .glorotUniform:
            Initializer.uniform(symmetricLimit: (6 / Float(fanIn + fanOut)).squareRoot())
                .fill(tensor, fanIn: fanIn, fanOut: fanOut, using: &generator)
        case .glorotNormal:
            Initializer.normal(std: (2 / Float(fanIn + fanOut)).squareRoot())
                .fill(tensor, fanIn: fanIn, fanOut: fanOut, using: &generator)
        case .heNormal:
            Initializer.normal(std: (2 / Float(fanIn)).squareRoot())
                .fill(tensor, fanIn: fanIn, fanOut: fanOut, using: &generator)
        case .heUniform:
            Initializer.uniform(symmetricLimit: (6 / Float(fanIn)).squareRoot())
                .fill(tensor, fanIn: fanIn, fanOut: fanOut, using: &generator)
        }
    }

    private static func uniform(symmetricLimit limit: Float) -> Initializer {
        .uniform(low: -limit, high: limit)
    }
}
