/// A problem in the user's data or files, found while training, evaluating, saving or loading.
/// Each case names the offending value and where it was found (for files: the path and the
/// tensor); `description` says it in a sentence.
///
/// ```swift
/// do {
///     try model.load(from: "model.safetensors")
/// } catch let error as DeepLearningError {
///     print(error)   // tensor "0.weight" in model.safetensors has shape [3, 2] but the
///                    // model's has shape [100, 2]
/// }
/// ```
public enum DeepLearningError: Error, Equatable, CustomStringConvertible {
    /// `labels[index]` is `label`, outside `0..<classes`.
    case labelOutOfRange(label: Int, index: Int, classes: Int)
    /// The inputs have `samples` rows but there are `labels` labels.
    case countMismatch(samples: Int, labels: Int)
    /// The inputs have `samples` rows but the targets have `targets` rows.
    case targetCountMismatch(samples: Int, targets: Int)
    /// A data set with no samples.
    case emptyDataSet
    /// A mini-batch size below 1.
    case invalidBatchSize(Int)
    /// The loss became NaN or infinite in `epoch` (from 1) at `batch` (from 1); the
    /// parameters, the optimizer's state and `BatchNorm`'s running statistics are left as they
    /// were before that batch (see `Model.fit`).
    case nonFiniteLoss(value: Float, epoch: Int, batch: Int)

    // Saving and loading safetensors files (`Model.save(to:)`, `Model.load(from:)`).

    /// The file at `path` could not be read; `reason` is the system's.
    case unreadableFile(path: String, reason: String)
    /// The model could not be written to `path`; `reason` is the system's.
    case unwritableFile(path: String, reason: String)
    /// The file's `size` bytes end inside its header: before the 8-byte header length (when
    /// `headerLength` is nil) or before the `headerLength`-byte JSON header it announces.
    case truncatedHeader(path: String, size: Int, headerLength: UInt64?)
    /// The JSON header is unusable; `problem` says how ("it is not valid JSON (Invalid value
    /// around character 5.)").
    case invalidHeader(path: String, problem: String)
    /// The header's entry for `tensor` is unusable; `problem` says how ("it lacks \"dtype\"").
    case invalidTensorEntry(path: String, tensor: String, problem: String)
    /// The model has parameters or buffers that the file lacks: `tensors`, all of them, in the
    /// model's order; `unused` lists the file's tensors that the model has none of that name
    /// of (sorted), so that names that differ by a prefix show side by side (PyTorch's
    /// `DataParallel` saves "module.0.weight" for "0.weight").
    case missingTensor(path: String, tensors: [String], unused: [String])
    /// The file has a tensor that the model has no parameter for.
    case unexpectedTensor(path: String, tensor: String)
    /// `tensor` is stored as `dtype`; only `expected` (F32, or I64 for a counter) can be loaded.
    case unsupportedDType(path: String, tensor: String, dtype: String, expected: String)
    /// `tensor` has `shape` in the file but `expected` in the model.
    case shapeMismatch(path: String, tensor: String, shape: [Int], expected: [Int])
    /// `tensor`'s data offsets `begin..<end` do not span the `byteCount` bytes of `shape` in
    /// `dtype`.
    case dataSizeMismatch(path: String, tensor: String, dtype: String, begin: Int, end: Int,
                          shape: [Int], byteCount: Int)
    /// `tensor` ends at data offset `end`, beyond the `dataSize` bytes after the header.
    case truncatedTensor(path: String, tensor: String, end: Int, dataSize: Int)
    /// The counter `tensor` (`BatchNorm`'s `num_batches_tracked`) holds `count`, below 0 or
    /// above 2⁵³: a count no training reaches, and one that counting on could overflow.
    case invalidCount(path: String, tensor: String, count: Int64)

    // Hostile paths and files (`Model.save(to:)`, `Model.load(from:)`, `replaceFile(at:with:)`).

    /// `path` is `kind` ("a directory", "a FIFO", "a character device", ...), not a regular
    /// file: only regular files are read (`Model.load(from:)`) and replaced
    /// (`replaceFile(at:with:)`, `Model.save(to:)`); `loadLabelledCSV(from:)` reads pipes too,
    /// but no devices.
    case notARegularFile(path: String, kind: String)
    /// The file's header announces `headerLength` bytes, more than the `limit` that Python's
    /// safetensors accepts (100 MB): usually a file in another format (PyTorch's `torch.save`
    /// zip archive, NumPy's `.npy`, text), whose first 8 bytes read as such a length.
    case headerTooLarge(path: String, headerLength: UInt64, limit: Int)
    /// `tensor`'s data offsets `begin..<end` overlap `previous`'s, `previousBegin..<previousEnd`:
    /// the two would share bytes.
    case overlappingTensors(path: String, tensor: String, begin: Int, end: Int, previous: String,
                            previousBegin: Int, previousEnd: Int)
    /// The data bytes `begin..<end` belong to no tensor: a gap after tensor `after` (nil: at the
    /// start of the data) and before tensor `before` (nil: trailing bytes after the last tensor).
    case unclaimedBytes(path: String, begin: Int, end: Int, after: String?, before: String?)

    // Reading labelled CSV files (`loadLabelledCSV(from:)`, `parseLabelledCSV(_:source:)`);
    // `path` is the file's path or the source name given. Rows and columns count from 1.

    /// The file has no rows (or only blank lines).
    case emptyFile(path: String)
    /// The first row has a single field: a label without features.
    case missingFeatures(path: String)
    /// `row` is blank (spaces and tabs only) and not at the end.
    case blankRow(path: String, row: Int)
    /// `row` has `count` fields but the first row has `expected`.
    case fieldCountMismatch(path: String, row: Int, count: Int, expected: Int)
    /// The feature `text` at `row`, `column` is not a finite number.
    case invalidNumber(path: String, row: Int, column: Int, text: String)
    /// The label `text` at `row`, `column` (the last) is not an integer in `0...Int32.max`.
    case invalidLabel(path: String, row: Int, column: Int, text: String)

    // Bad input caught before it is read or trained on: sizes, data that is not CSV, batch
    // sizes a layer cannot train on. Texts are shown with control and invisible characters
    // escaped.

    /// The file at `path` holds more than `limit` bytes, the most that is read from it.
    case fileTooLarge(path: String, limit: Int)
    /// The compressed file at `path` decompresses to more than `limit` bytes, the most that is
    /// decompressed from it.
    case decompressedFileTooLarge(path: String, limit: Int)
    /// The first row, `text`, has text but no field that is a number: it looks like a header.
    case headerRow(path: String, text: String)
    /// The field `text` at `row`, `column` holds a NUL byte.
    case nulInField(path: String, row: Int, column: Int, text: String)
    /// The feature `text` at `row`, `column` is a number beyond `Float`'s range.
    case numberOutOfRange(path: String, row: Int, column: Int, text: String)
    /// `layer` cannot train on a batch of `batch` samples, fewer than the `needs` it asks for;
    /// `fit` found it before training, from its `samples` samples and `batchSize`.
    case batchTooSmall(layer: String, needs: Int, batch: Int, samples: Int, batchSize: Int)

    // Training checkpoints (`Model.restoreCheckpoint`, `Model.fit(..., resumingFrom:)`).

    /// The checkpoint at `path` does not fit the training it is to resume; `problem` names
    /// what differs ("it was saved with optimizer SGD, this training has Adam").
    case checkpointMismatch(path: String, problem: String)
    /// The checkpoint at `path` holds a value no training reaches; `problem` names it.
    case invalidCheckpoint(path: String, problem: String)

    public var description: String {
        switch self {
        case let .labelOutOfRange(label, index, classes):
            "label \(label) at index \(index) is outside the classes 0..<\(classes)"
        case let .countMismatch(samples, labels):
            "the inputs have \(samples) samples but there are \(labels) labels"
        case let .targetCountMismatch(samples, targets):
            "the inputs have \(samples) samples but the targets have \(targets) rows"
        case .emptyDataSet:
            "the data set is empty: it has no samples"
        case let .invalidBatchSize(size):
            "batch size \(size) is invalid: it must be at least 1"
        case let .nonFiniteLoss(value, epoch, batch):
            "the loss became \(value.isNaN ? "NaN" : "\(value)") in epoch \(epoch), batch \(batch); training stopped before updating the parameters with it"
        case let .unreadableFile(path, reason):
            "cannot read \(path): \(reason)"
        case let .unwritableFile(path, reason):
            "cannot write \(path): \(reason)"
        case let .truncatedHeader(path, size, nil):
            "\(path) is truncated: its \(size) bytes do not hold the 8-byte header length"
        case let .truncatedHeader(path, size, headerLength?):
            "\(path) is truncated: its \(size) bytes do not hold the 8-byte header length and the \(headerLength)-byte header"
        case let .invalidHeader(path, problem):
            "the header of \(path) is invalid: \(problem)"
        case let .invalidTensorEntry(path, tensor, problem):
            "the entry of tensor \"\(tensor)\" in \(path) is invalid: \(problem)"
        case let .missingTensor(path, tensors, unused):
            "\(tensors.count == 1 ? "tensor" : "\(tensors.count) tensors") \(quotedList(tensors)) of the model \(tensors.count == 1 ? "is" : "are") missing from \(path)\(unused.isEmpty ? "" : "; it has \(quotedList(unused)), which the model has no tensor of that name for")\(prefixHint(missing: tensors, unused: unused))"
        case let .unexpectedTensor(path, tensor):
            "tensor \"\(tensor)\" in \(path) is not a parameter or buffer of the model"
        case let .unsupportedDType(path, tensor, dtype, expected):
            "tensor \"\(tensor)\" in \(path) has dtype \(dtype); only \(expected) can be loaded into it"
        case let .shapeMismatch(path, tensor, shape, expected):
            "tensor \"\(tensor)\" in \(path) has shape \(shape) but the model's has shape \(expected)"
        case let .dataSizeMismatch(path, tensor, dtype, begin, end, shape, byteCount):
            "tensor \"\(tensor)\" in \(path) has data_offsets [\(begin), \(end)], \(end - begin) bytes, but its shape \(shape) in \(dtype) takes \(byteCount)"
        case let .truncatedTensor(path, tensor, end, dataSize):
            "\(path) is truncated: tensor \"\(tensor)\" ends at data offset \(end) but the data has \(dataSize) bytes"
        case let .invalidCount(path, tensor, count):
            "tensor \"\(tensor)\" in \(path) holds the count \(count), which no training reaches (a count is 0 through 2^53)"
        case let .notARegularFile(path, kind):
            "\(path) is \(kind), not a regular file"
        case let .headerTooLarge(path, headerLength, limit):
            "the header of \(path) announces \(headerLength) bytes, more than the \(limit) a safetensors header may have: it is probably not a safetensors file (PyTorch's torch.save writes a zip archive; safetensors.torch.save_file writes safetensors)"
        case let .overlappingTensors(path, tensor, begin, end, previous, previousBegin, previousEnd):
            "tensors \"\(previous)\" (data_offsets [\(previousBegin), \(previousEnd)]) and \"\(tensor)\" ([\(begin), \(end)]) in \(path) overlap"
        case let .unclaimedBytes(path, begin, end, after, before):
            "the data bytes \(begin)..<\(end) of \(path) belong to no tensor: they lie \(after.map { "after tensor \"\($0)\"" } ?? "at the start of the data")\(before.map { " and before tensor \"\($0)\"" } ?? " and end the file")"
        case let .emptyFile(path):
            "\(path) is empty: it has no rows"
        case let .missingFeatures(path):
            "the rows of \(path) have a single field: a label needs at least one feature before it"
        case let .blankRow(path, row):
            "row \(row) of \(path) is blank: every row holds the features, then the label (blank lines may only end the file)"
        case let .fieldCountMismatch(path, row, count, expected):
            "row \(row) of \(path) has \(count) field\(count == 1 ? "" : "s") but the first row has \(expected)"
        case let .invalidNumber(path, row, column, text):
            "\"\(text.escapedForMessage)\" in row \(row), column \(column) of \(path) is not a finite number"
        case let .invalidLabel(path, row, column, text):
            "the label \"\(text.escapedForMessage)\" in row \(row), column \(column) of \(path) is not an integer in 0...\(Int32.max)"
        case let .fileTooLarge(path, limit):
            "\(path) is larger than \(limit) bytes, the most that is read from a file"
        case let .decompressedFileTooLarge(path, limit):
            "\(path) decompresses to more than \(limit) bytes, the most that is decompressed from a file"
        case let .headerRow(path, text):
            "the first row of \(path), \"\(text.escapedForMessage)\", has no number: the file seems to have a header row, and it must not (every row holds the features, then the label)"
        case let .nulInField(path, row, column, text):
            "\"\(text.escapedForMessage)\" in row \(row), column \(column) of \(path) holds a NUL byte: the text must be UTF-8 (UTF-16 text holds NULs)"
        case let .numberOutOfRange(path, row, column, text):
            "\"\(text.escapedForMessage)\" in row \(row), column \(column) of \(path) is out of Float's range (magnitudes up to \(Float.greatestFiniteMagnitude))"
        case let .batchTooSmall(layer, needs, batch, samples, batchSize) where batch < min(batchSize, samples):
            "\(layer) cannot train on a batch of \(batch) sample\(batch == 1 ? "" : "s"): it needs at least \(needs); \(samples) samples in batches of \(batchSize) leave a last batch of \(batch) (pass dropLast: true to skip it, or choose another batch size)"
        case let .batchTooSmall(layer, needs, batch, samples, batchSize):
            "\(layer) cannot train on batches of \(batch) sample\(batch == 1 ? "" : "s"): it needs at least \(needs); \(batchSize < samples ? "choose a batch size of at least \(needs)" : "the data set has only \(samples)")"
        case let .checkpointMismatch(path, problem):
            "the checkpoint \(path) does not fit this training: \(problem)"
        case let .invalidCheckpoint(path, problem):
            "the checkpoint \(path) is invalid: \(problem)"
        }
    }
}

/// `names` quoted and listed for a message: the first `limit`, then how many more there are
/// ("\"a\", \"b\", \"c\" and 2 more").
func quotedList(_ names: [String], limit: Int = 4) -> String {
    let shown = names.prefix(limit).map { "\"\($0)\"" }.joined(separator: ", ")
    return names.count > limit ? "\(shown) and \(names.count - limit) more" : shown
}
