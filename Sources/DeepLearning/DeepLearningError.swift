/// A problem in the user's data, found while training or evaluating. Each case names the
/// offending value and where it was found; `description` says it in a sentence.
public enum DeepLearningError: Error, Equatable, CustomStringConvertible {
    /// `labels[index]` is `label`, outside `0..<classes`.
    case labelOutOfRange(label: Int, index: Int, classes: Int)
    /// The inputs have `samples` rows but there are `labels` labels.
    case countMismatch(samples: Int, labels: Int)
    /// A data set with no samples.
    case emptyDataSet
    /// A mini-batch size below 1.
    case invalidBatchSize(Int)
    /// The loss became NaN or infinite in `epoch` (from 1) at `batch` (from 1); the
    /// parameters are left as they were before that batch.
    case nonFiniteLoss(value: Float, epoch: Int, batch: Int)

    public var description: String {
        switch self {
        case let .labelOutOfRange(label, index, classes):
            "label \(label) at index \(index) is outside the classes 0..<\(classes)"
        case let .countMismatch(samples, labels):
            "the inputs have \(samples) samples but there are \(labels) labels"
        case .emptyDataSet:
            "the data set is empty: it has no samples"
        case let .invalidBatchSize(size):
            "batch size \(size) is invalid: it must be at least 1"
        case let .nonFiniteLoss(value, epoch, batch):
            "the loss became \(value.isNaN ? "NaN" : "\(value)") in epoch \(epoch), batch \(batch); training stopped before updating the parameters with it"
        }
    }
}
