import CKernels

/// A loss over a batch of class scores (`[batch, classes]`) and one integer label per row,
/// computed with its gradient by one C kernel: the shared machinery of
/// `SoftmaxCrossEntropy` and `MultiMarginLoss`. Scores of no rows or no classes stop with a
/// message, as `crossEntropy(_:labels:)`.
///
/// ```swift
/// let loss: ClassLabelLoss = MultiMarginLoss()
/// let value = try loss.forward(scores, labels: [2, 0])   // scores: [2, classes]
/// let dScores = loss.backward()                          // [2, classes]
/// ```
public class ClassLabelLoss: Loss {
    /// The kernel: (rows, classes, scores, labels, dScores, loss) -> 0 or
    /// CK_ERROR_LABEL_OUT_OF_RANGE (writing nothing).
    typealias Kernel = @convention(c) (Int64, Int64, UnsafePointer<Float>?,
                                       UnsafePointer<Int32>?, UnsafeMutablePointer<Float>?,
                                       UnsafeMutablePointer<Float>?) -> Int32
    private let name: String
    private let kernel: Kernel
    @exclusivity(unchecked) private var scoresGradient: Tensor?

    init(name: String, kernel: Kernel) {
        self.name = name
        self.kernel = kernel
    }

    public func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws
        -> Float
    {
        // A mean over no rows has no value (PyTorch's is NaN): as `crossEntropy`, it stops.
        require(output.shape.count == 2 && output.shape[0] >= 1 && output.shape[1] >= 1,
                "\(name): scores of shape \(output.shape) are not [batch, classes] with at least one of each")
        let (rows, classes) = (output.shape[0], output.shape[1])
        try checkLabelCount(labels, rows: rows)
        let gradient = Tensor.reusing(scoresGradient, shape: output.shape)
        keep(gradient, in: &scoresGradient)
        // The kernel writes the loss through a pointer: a `var` captured by the closures
        // below would be boxed on the heap, one allocation a training step.
        var loss: Float = 0
        let status = withUnsafeMutablePointer(to: &loss) { loss in
            func compute(_ labels: UnsafeBufferPointer<Int32>) -> Int32 {
                kernel(Int64(rows), Int64(classes), output.value, labels.baseAddress,
                       gradient.value, loss)
            }
            return labels.withContiguousStorageIfAvailable(compute)
                ?? Array(labels).withUnsafeBufferPointer(compute)
        }
        if status == CK_ERROR_LABEL_OUT_OF_RANGE { try checkLabels(labels, classes: classes) }
        return loss
    }

    public func backward() -> Tensor {
        guard let scoresGradient else { fatalError("\(name): backward called before forward") }
        return scoresGradient
    }
}
