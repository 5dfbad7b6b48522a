import CKernels

// Operations that change a tensor's shape or pick parts of it, as recorded operations.
// Views (no copy, sharing the storage and its version): `reshaped`, `rows(_:)`.
// Copies: `transposed()`, `concatenate(_:alongAxis:)`, `gatheringRows(_:)`.

extension Tensor {
    /// The same values in another shape of the same element count: a view sharing this
    /// tensor's storage (no copy; writes to one show in the other). One dimension may be -1,
    /// inferred from the others.
    ///
    /// ```swift
    /// Tensor(shape: [2, 3]).reshaped([3, -1]).shape   // [3, 2]
    /// ```
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        require(inferred.count <= 1 && newShape.allSatisfy { $0 >= -1 },
                "reshaped: shape \(newShape) has more than one -1 or a negative dimension")
        if let d = inferred.first {
            let known = Tensor.elementCount(of: newShape.filter { $0 != -1 }, for: "reshaped")
            require(known > 0 && count % known == 0,
                    "reshaped: shape \(shape) (\(count) elements) cannot be viewed as \(newShape)")
            resolved[d] = count / known
        }
        require(Tensor.elementCount(of: resolved, for: "reshaped") == count,
                "reshaped: shape \(shape) (\(count) elements) cannot be viewed as \(newShape)")
        let view = Tensor(shape: resolved, storage: storage, value: value)
        if recordsGradient(self) { view.attach(ReshapeNode(input: self, output: view)) }
        return view
    }

    /// The rows `range` of the first axis: a view sharing this tensor's storage (rows are
    /// contiguous, so no copy), of shape `[range.count] + shape.dropFirst()`.
    public func rows(_ range: Range<Int>) -> Tensor {
        require(shape.count >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                "rows: rows \(range) are outside the first axis of shape \(shape)")
        let rowSize = shape.dropFirst().reduce(1, *)
        var viewShape = shape
        viewShape[0] = range.count
        let view = Tensor(shape: viewShape, storage: storage,
                          value: value + range.lowerBound * rowSize)
        if recordsGradient(self) {
            view.attach(RowSliceNode(input: self, output: view, offset: range.lowerBound * rowSize))
        }
        return view
    }

    /// The last two axes swapped (each matrix of a batch transposed): a copy, of shape
    /// `[..., n, m]` for `[..., m, n]`. (`matmul` reads transposed operands in place; use this
    /// where a transposed copy is wanted.)
    public func transposed() -> Tensor {
        require(shape.count >= 2, "transposed: shape \(shape) has fewer than two axes")
        let (rows, columns) = (shape[shape.count - 2], shape[shape.count - 1])
        var transposedShape = shape
        transposedShape.swapAt(shape.count - 2, shape.count - 1)
        let y = Tensor(uninitializedShape: transposedShape)
        let batch = rows * columns == 0 ? 0 : count / (rows * columns)
        ck_transpose(Int64(batch), Int64(rows), Int64(columns), value, 0, y.value)
        if recordsGradient(self) {
            y.attach(TransposeNode(input: self, output: y, batch: batch, rows: rows,
                                   columns: columns))
        }
        return y
    }

    /// The rows `indices` of the first axis, in that order (repeats allowed): a copy, of shape
    /// `[indices.count] + shape.dropFirst()`. An embedding lookup: `table.gatheringRows(ids)`.
    /// The gradient of a row gathered several times is the sum of its rows' gradients.
    public func gatheringRows(_ indices: [Int]) -> Tensor {
        require(shape.count >= 1, "gatheringRows: a scalar has no rows")
        let rowCount = shape[0]
        if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= rowCount }) {
            require(false, "gatheringRows: index \(indices[bad]) at position \(bad) is outside the \(rowCount) rows of shape \(shape)")
        }
        let rowSize = shape.dropFirst().reduce(1, *)
        var gatheredShape = shape
        gatheredShape[0] = indices.count
        let y = Tensor(uninitializedShape: gatheredShape)
        let rowIndices = indices.map(Int64.init)
        ck_gather_rows(Int64(indices.count), Int64(rowSize), value, Int64(rowSize), rowIndices,
                       y.value)
        if recordsGradient(self) {
            y.attach(GatherRowsNode(input: self, output: y, indices: rowIndices))
        }
        return y
    }
}

/// The tensors joined along `axis` (negative counts from the end): all have the same rank
/// and the same size on every other axis. A copy.
///
/// ```swift
/// concatenate([Tensor(shape: [2, 3]), Tensor(shape: [2, 1])], alongAxis: 1).shape   // [2, 4]
/// ```
public func concatenate(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
    require(!tensors.isEmpty, "concatenate: no tensors")
    let first = tensors[0].shape
    let d = tensors[0].normalizedAxis(axis, operation: "concatenate")
    for tensor in tensors {
        let fits = tensor.shape.count == first.count
            && tensor.shape.indices.allSatisfy { $0 == d || tensor.shape[$0] == first[$0] }
        require(fits, "concatenate: shapes \(tensors.map(\.shape)) differ elsewhere than along axis \(axis)")
    }
    var shape = first
    for tensor in tensors.dropFirst() {
        let (sum, overflow) = shape[d].addingReportingOverflow(tensor.shape[d])
        require(!overflow, "concatenate: the sizes along axis \(axis) of shapes \(tensors.map(\.shape)) add up to more than \(Int.max)")
        shape[d] = sum
    }
    let y = Tensor(uninitializedShape: shape)
    let (outer, total, inner) = y.axisView(d)
    var offset = 0
    for tensor in tensors {
        let width = tensor.shape[d] * inner
        ck_copy_block(Int64(outer), Int64(width), tensor.value, Int64(width), 0,
                      y.value + offset, Int64(total * inner))
        offset += width
    }
    if recordsGradient(tensors) { y.attach(ConcatenateNode(inputs: tensors, output: y, axis: d)) }
    return y
}

/// The backward pass of `reshaped`: the gradient itself, in the input's shape.
final class ReshapeNode: GradientNode {
    init(input: Tensor, output: Tensor) {
        super.init("reshaped", input: input, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        gradientTarget(forInput: 0)?.add(outputGradient)
    }
}

/// The backward pass of `rows(_:)`: the gradient into the rows taken, 0 for the others.
final class RowSliceNode: GradientNode {
    /// Where the rows start, in elements.
    private let offset: Int

    init(input: Tensor, output: Tensor, offset: Int) {
        self.offset = offset
        super.init("rows", input: input, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        let end = offset + outputGradient.count
        if !target.accumulate {
            ck_fill(Int64(offset), 0, target.buffer)
            ck_fill(Int64(target.count - end), 0, target.buffer + end)
        }
        ck_scaled_add(Int64(outputGradient.count), 1, outputGradient.value,
                      target.accumulateFlag, target.buffer + offset)
    }
}

/// The backward pass of `transposed()`: the gradient transposed back.
final class TransposeNode: GradientNode {
    private let batch: Int, rows: Int, columns: Int

    init(input: Tensor, output: Tensor, batch: Int, rows: Int, columns: Int) {
        (self.batch, self.rows, self.columns) = (batch, rows, columns)
        super.init("transposed", input: input, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        ck_transpose(Int64(batch), Int64(columns), Int64(rows), outputGradient.value,
                     target.accumulateFlag, target.buffer)
    }
}

/// The backward pass of `gatheringRows(_:)`: each gathered row's gradient added to its row.
final class GatherRowsNode: GradientNode {
    private let indices: [Int64]
    private let rowCount: Int

    init(input: Tensor, output: Tensor, indices: [Int64]) {
        self.indices = indices
        rowCount = input.shape[0]
        super.init("gatheringRows", input: input, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        let rowSize = rowCount == 0 ? 0 : target.count / rowCount
        ck_scatter_add_rows(Int64(indices.count), Int64(rowSize), outputGradient.value, indices,
                            Int64(rowCount), target.accumulateFlag, target.buffer)
    }
}

/// The backward pass of `concatenate(_:alongAxis:)`: each input's block of the gradient.
final class ConcatenateNode: GradientNode {
    /// Each input's width along the axis times the size of the axes after it.
    private let widths: [Int]
    private let outer: Int, totalWidth: Int

    init(inputs: [Tensor], output: Tensor, axis: Int) {
        let (outer, total, inner) = output.axisView(axis)
        widths = inputs.map { $0.shape[axis] * inner }
        self.outer = outer
        totalWidth = total * inner
        super.init("concatenate", inputs: inputs, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        var offset = 0
        for (index, width) in widths.enumerated() {
            if let target = gradientTarget(forInput: index) {
                ck_copy_block(Int64(outer), Int64(width), outputGradient.value + offset,
                              Int64(totalWidth), target.accumulateFlag, target.buffer,
                              Int64(width))
            }
            offset += width
        }
    }
}
