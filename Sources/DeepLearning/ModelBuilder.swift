/// Builds the layer list of `Model { ... }`: layers, arrays of layers, `if`, `if`/`else` and
/// `for` loops.
///
/// ```swift
/// let model = Model {
///     Linear(2, 64)
///     for _ in 0..<blocks { ResidualBlock() }
///     if normalized { BatchNorm(features: 64) }
///     Linear(64, 3)
/// }
/// ```
@resultBuilder
public enum ModelBuilder {
    /// A layer on a line of its own.
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    /// An array of layers on a line of its own, in order.
    public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
    /// The lines of a block, in order.
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    /// An `if` without `else`: its layers when the condition holds, else none.
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    /// The `if` branch of an `if`/`else`.
    public static func buildEither(first part: [any Layer]) -> [any Layer] { part }
    /// The `else` branch of an `if`/`else`.
    public static func buildEither(second part: [any Layer]) -> [any Layer] { part }
    /// A `for` loop: the layers of every iteration, in order.
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}
