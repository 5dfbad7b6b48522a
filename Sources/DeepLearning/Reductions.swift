import CKernels

// Sums, means and maxima over all elements or along one axis, as recorded operations.

extension Tensor {
    /// The sum of all elements: a scalar (shape `[]`). Summed in Double, in chunks whose
    /// bounds depend only on the element count (one chunk up to 4096 elements), each in 16
    /// partial sums (and one for its elements past the last full 16) added in a fixed order,
    /// the chunks' sums added in order: the same bits whatever the thread count.
    public func sum() -> Tensor {
        let y = Tensor(uninitializedShape: [])
        y.value.pointee = ck_sum(Int64(count), value)
        if recordsGradient(self) { y.attach(SpreadNode("sum", input: self, output: y, scale: 1)) }
        return y
    }

    /// The mean of all elements: a scalar (shape `[]`); NaN for an empty tensor. The sum, as
    /// `sum()` adds it in Double, is divided by the count before it is rounded to Float, so the
    /// mean of elements near `Float.greatestFiniteMagnitude` is finite.
    public func mean() -> Tensor {
        let y = Tensor(uninitializedShape: [])
        y.value.pointee = ck_mean(Int64(count), value)
        if recordsGradient(self) {
            y.attach(SpreadNode("mean", input: self, output: y, scale: 1 / Float(count)))
        }
        return y
    }

    /// The sums along `axis` (negative counts from the end: -1 is the last): the shape
    /// without that axis, or with it as 1 when `keepingAxis`. Each sum runs in Double, rounded
    /// to Float once: in order along the axis, or, along the last axis, in 16 partial sums
    /// (and one for the elements past the last full 16) added in a fixed order.
    public func sum(alongAxis axis: Int, keepingAxis: Bool = false) -> Tensor {
        reduce("sum", alongAxis: axis, keepingAxis: keepingAxis, scale: 1)
    }

    /// The means along `axis` (as `sum(alongAxis:keepingAxis:)`, each term divided by the
    /// axis's length in Float, then added in Double); NaN along an empty axis, as `mean()` of
    /// an empty tensor.
    public func mean(alongAxis axis: Int, keepingAxis: Bool = false) -> Tensor {
        let length = shape[normalizedAxis(axis, operation: "mean")]
        return reduce("mean", alongAxis: axis, keepingAxis: keepingAxis,
                      scale: 1 / Float(length))
    }

    /// The largest element: a scalar (shape `[]`; a NaN element makes it NaN). Its gradient is
    /// split evenly between the elements equal to it (as PyTorch's `max()`).
    public func max() -> Tensor {
        require(count >= 1, "max: the tensor of shape \(shape) has no elements")
        let y = Tensor(uninitializedShape: [])
        var ties: Int64 = 0
        y.value.pointee = ck_max(Int64(count), value, &ties)
        if recordsGradient(self) {
            y.attach(MaximumNode(input: self, output: y, ties: Int(ties)))
        }
        return y
    }

    /// The largest element along `axis` and its index there (the first, for ties; a NaN is
    /// the largest), each of the shape without that axis, or with it as 1 when `keepingAxis`.
    /// The gradient goes to the element at the index returned (as PyTorch's `max(dim)`).
    public func max(alongAxis axis: Int, keepingAxis: Bool = false)
        -> (values: Tensor, indices: [Int])
    {
        let d = normalizedAxis(axis, operation: "max")
        let (outer, n, inner) = axisView(d)
        require(n >= 1, "max: axis \(axis) of shape \(shape) is empty")
        let y = Tensor(uninitializedShape: reducedShape(d, keepingAxis: keepingAxis))
        var indices = [Int64](repeating: 0, count: outer * inner)
        ck_max_axis(Int64(outer), Int64(n), Int64(inner), value, y.value, &indices)
        if recordsGradient(self) {
            y.attach(AxisMaximumNode(input: self, output: y, axis: (outer, n, inner),
                                     indices: indices))
        }
        return (y, indices.map(Int.init))
    }

    /// `axis` in `0..<rank` (negative counts from the end); stops with a message otherwise.
    func normalizedAxis(_ axis: Int, operation: String) -> Int {
        let d = axis < 0 ? axis + shape.count : axis
        require(d >= 0 && d < shape.count,
                "\(operation): axis \(axis) is outside the \(shape.count) axes of shape \(shape)")
        return d
    }

    /// This tensor seen as outer × n × inner around axis `d`.
    func axisView(_ d: Int) -> (outer: Int, n: Int, inner: Int) {
        (shape[..<d].reduce(1, *), shape[d], shape[(d + 1)...].reduce(1, *))
    }

    /// The shape with axis `d` removed, or 1 when `keepingAxis`.
    private func reducedShape(_ d: Int, keepingAxis: Bool) -> [Int] {
        var result = shape
        if keepingAxis { result[d] = 1 } else { result.remove(at: d) }
        return result
    }

    /// scale · the sums along `axis`.
    private func reduce(_ operation: String, alongAxis axis: Int, keepingAxis: Bool,
                        scale: Float) -> Tensor {
        let d = normalizedAxis(axis, operation: operation)
        let (outer, n, inner) = axisView(d)
        let y = Tensor(uninitializedShape: reducedShape(d, keepingAxis: keepingAxis))
        if y.count > 0 && n == 0 {
            // The empty sum, 0, times the scale: 0 for a sum, 0 · ∞ = NaN for a mean (0 / 0).
            ck_fill(Int64(y.count), 0 * scale, y.value)
        } else {
            var shape3 = [Int64(outer), Int64(n), Int64(inner)]
            let yStrides: [Int64] = [Int64(inner), 0, 1]
            ck_sum_to(3, &shape3, value, yStrides, scale, 0, y.value)
        }
        if recordsGradient(self) {
            y.attach(SpreadNode(operation, input: self, output: y, scale: scale,
                                axis: (outer, n, inner)))
        }
        return y
    }
}

/// The backward pass of a sum or mean, over all elements or along an axis: each input element
/// gets scale · the gradient of the output element it was summed into (`ck_binary` with the
/// output gradient broadcast along the summed axis).
final class SpreadNode: GradientNode {
    private let scale: Float
    /// The input as outer × n × inner, summed over n (all elements: 1 × count × 1).
    private let axis: (outer: Int, n: Int, inner: Int)

    init(_ operation: String, input: Tensor, output: Tensor, scale: Float,
         axis: (outer: Int, n: Int, inner: Int)? = nil) {
        self.scale = scale
        self.axis = axis ?? (1, input.count, 1)
        super.init(operation, input: input, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        var shape = [Int64(axis.outer), Int64(axis.n), Int64(axis.inner)]
        let dyStrides: [Int64] = [Int64(axis.inner), 0, 1], scalarStrides: [Int64] = [0, 0, 0]
        var scale = self.scale
        ck_binary(CK_BINARY_MULTIPLY, 3, &shape, outputGradient.value, dyStrides, &scale,
                  scalarStrides, target.accumulateFlag, target.buffer)
    }
}

/// The backward pass of `max()`: the gradient split evenly between the maximal elements.
final class MaximumNode: GradientNode {
    private let ties: Int

    init(input: Tensor, output: Tensor, ties: Int) {
        self.ties = ties
        super.init("max", input: input, saving: input, output, outputShape: [])
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        ck_max_backward(Int64(target.count), savedValue(0), savedValue(1).pointee,
                        outputGradient.value.pointee / Float(ties), target.accumulateFlag,
                        target.buffer)
    }
}

/// The backward pass of `max(alongAxis:)`: the gradient to the index each maximum came from.
final class AxisMaximumNode: GradientNode {
    private let axis: (outer: Int, n: Int, inner: Int)
    private let indices: [Int64]

    init(input: Tensor, output: Tensor, axis: (outer: Int, n: Int, inner: Int),
         indices: [Int64]) {
        self.axis = axis
        self.indices = indices
        super.init("max", input: input, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        ck_max_axis_backward(Int64(axis.outer), Int64(axis.n), Int64(axis.inner), indices,
                             outputGradient.value, target.accumulateFlag, target.buffer)
    }
}
