import Foundation

// Saving and loading a model's state in the safetensors format, named and laid out as PyTorch's
// `state_dict` of an `nn.Sequential` (StoredTensor.swift), checked as Python's safetensors
// checks a file (SafeTensorsHeader.swift); the writer and reader that model files and training
// checkpoints (TrainingCheckpoint.swift) share.

extension Model {
    /// Writes every layer's parameters, buffers and counters to `path` in the safetensors
    /// format, as PyTorch's `state_dict` of the same `nn.Sequential` holds them, so that
    /// `load_state_dict(strict=True)` accepts the file: named by the layer's index and the
    /// tensor's name ("0.weight", "0.bias", "1.running_mean", "1.num_batches_tracked", ...),
    /// F32 little-endian except the counters (`BatchNorm`'s `num_batches_tracked`, an I64
    /// scalar), `Linear`'s weight transposed to PyTorch's `[out, in]`. The header's
    /// `__metadata__` holds `"format": "DeepLearning"`, `"layout": "pytorch"` and the layers.
    ///
    /// The file is replaced atomically by `replaceFile(at:with:)`: through a symbolic link to
    /// its target, keeping its permissions, never half written; a directory, FIFO or device at
    /// `path` is refused (`DeepLearningError.notARegularFile`), and any other failure throws
    /// `DeepLearningError.unwritableFile` naming `path`.
    ///
    /// ```swift
    /// try model.save(to: "spiral.safetensors")
    /// let copy = Model { Linear(2, 100); ReLU(); Linear(100, 3) }
    /// try copy.load(from: "spiral.safetensors")     // same predictions as `model`
    /// ```
    ///
    /// Python reads the file with `safetensors.torch.load_file("spiral.safetensors")` (or
    /// `safetensors.numpy.load_file`).
    public func save(to path: String) throws {
        try replaceFile(at: path, with: fileImage())
    }

    /// The bytes that `save(to:)` writes.
    func fileImage() throws -> [UInt8] {
        let metadata = ["format": "DeepLearning", "layout": StoredLayout.pytorchMarker,
                        "layers": layers.map(\.description).joined(separator: "; ")]
        return try safeTensorsImage(of: storedTensors(in: .pytorch), metadata: metadata)
    }

    /// Sets every layer's parameters, buffers and counters from the safetensors file at
    /// `path`: one written by `save(to:)` (in this version's layout or the original one), by
    /// PyTorch (`safetensors.torch.save_file(model.state_dict(), path)` of the same
    /// `nn.Sequential`) or by any safetensors writer under PyTorch's names and layout.
    ///
    /// The file's `__metadata__` says its layout: `"format": "DeepLearning"` with
    /// `"layout": "pytorch"` is PyTorch's layout; `"format": "DeepLearning"` alone is the
    /// original one (`Linear`'s weight `[in, out]`, `Conv2D`'s parameters "0" and "1", no
    /// counters, which loading sets to 0); a file without that marker is read in PyTorch's.
    ///
    /// The file must hold exactly the model's tensors in that layout (unless `strict` is
    /// false: see below), with their dtypes (F32;
    /// I64 for counters) and shapes. Only a regular file is read, and only its header (at most
    /// 100 MB, as Python's safetensors allows) and then its tensors' bytes, after their sizes
    /// are checked against the file's size and the model. The whole file is checked before any
    /// state changes: on any error the model is left as it was, and a `DeepLearningError`
    /// names the file and, where there is one, the tensor and its offsets: the file cannot be
    /// read or is not a regular file, is truncated, has a header that is too large, has a byte
    /// order mark or is not a JSON object of valid entries, has tensors whose bytes overlap,
    /// leave gaps or are followed by trailing bytes, lacks a tensor or has an extra one, has a
    /// tensor of another dtype, shape or byte size, has a counter holding a count no training
    /// reaches (below 0 or above 2⁵³), or is a training checkpoint (`saveCheckpoint`'s file).
    ///
    /// With `strict: false` (PyTorch's `load_state_dict(strict=False)`) the file may lack
    /// some of the model's tensors and hold others the model does not have: the tensors both
    /// have are read, the others left as they are, and the returned `UnmatchedTensors` lists
    /// both kinds rather than throwing. Every other check stays: a tensor both have with
    /// another dtype or shape throws, as in PyTorch, and then nothing is read. Strict
    /// loading returns empty lists.
    ///
    /// ```swift
    /// let model = Model { Linear(2, 100); ReLU(); Linear(100, 3) }
    /// try model.load(from: "spiral.safetensors")
    /// let classes = model.predict(inputs)
    ///
    /// // A pretrained body under a new head: "3.weight" and "3.bias" are left as drawn.
    /// let larger = Model { Linear(2, 100); ReLU(); Linear(100, 3); Linear(3, 5) }
    /// let unmatched = try larger.load(from: "spiral.safetensors", strict: false)
    /// unmatched.missing      // ["3.weight", "3.bias"]
    /// unmatched.unexpected   // []
    /// ```
    @discardableResult
    public func load(from path: String, strict: Bool = true) throws -> UnmatchedTensors {
        let read = try readSafeTensorsFile(at: path, into: storedTensors(readFrom:source:),
                                           strict: strict,
                                           mismatch: { $0.modelError(source: path) })
        try resetCountersIfOriginal(metadata: read.metadata, source: path)
        return UnmatchedTensors(missing: read.missing, unexpected: read.unexpected)
    }

    /// `load(from:strict:)` for a safetensors file's bytes already in memory; `source` names
    /// them in errors (as the path does for a file). The same checks, the same errors, no file
    /// access.
    ///
    /// ```swift
    /// let bytes = [UInt8](try Data(contentsOf: url))
    /// try model.load(fromSafeTensorsBytes: bytes, source: url.path)
    /// ```
    @discardableResult
    public func load(fromSafeTensorsBytes bytes: [UInt8], source: String, strict: Bool = true)
        throws -> UnmatchedTensors
    {
        let read = try readSafeTensorsImage(imageSize: bytes.count, source: source,
                                            reading: { bytes[$0] },
                                            into: storedTensors(readFrom:source:),
                                            strict: strict,
                                            mismatch: { $0.modelError(source: source) })
        try resetCountersIfOriginal(metadata: read.metadata, source: source)
        return UnmatchedTensors(missing: read.missing, unexpected: read.unexpected)
    }

    /// The tensors a file with `metadata` stores in its layout (`source` names it in errors).
    private func storedTensors(readFrom metadata: [String: String], source: String) throws
        -> [StoredTensor]
    {
        storedTensors(in: try StoredLayout(metadata: metadata, source: source))
    }

    /// Sets the counters to 0 after a file in the original layout, which has none, was read.
    private func resetCountersIfOriginal(metadata: [String: String], source: String) throws {
        guard try StoredLayout(metadata: metadata, source: source) == .original else { return }
        for (_, layer) in layerTree { for (_, counter) in layer.namedCounters { counter.value = 0 } }
    }

    /// Every layer's tensors as `layout` stores them, named "<layer path>.<name>" (the path
    /// is the layer's index in a plain sequential model, "1.first" for the sub-layer `first`
    /// of layer 1: PyTorch's dotted `state_dict` names), in the order of `layerTree`.
    func storedTensors(in layout: StoredLayout) -> [StoredTensor] {
        let tensors = layerTree.dropFirst().flatMap { path, layer in
            layer.storedTensors(in: layout).map {
                StoredTensor(name: "\(path).\($0.name)", value: $0.value)
            }
        }
        require(Set(tensors.map(\.name)).count == tensors.count,
                "Model: tensor names \(tensors.map(\.name)) are not unique; each layer's namedParameters, namedBuffers and namedCounters together must be")
        return tensors
    }
}

/// The bytes of a safetensors file holding `tensors` and `metadata`. Stops with a message
/// when two tensors have one name, or one is named "__metadata__": a header holds one entry
/// a name. The 64-bit integers come first, so that every tensor starts at a multiple of its
/// element size (the header is padded to a multiple of 8), as the reference writer orders
/// them.
func safeTensorsImage(of tensors: [StoredTensor], metadata: [String: String]) throws -> [UInt8] {
    var names: Set = ["__metadata__"]
    let duplicate = tensors.first { !names.insert($0.name).inserted }
    require(duplicate == nil,
            "safetensors: the header would hold two entries named \"\(duplicate!.name)\"")
    let tensors = tensors.filter { $0.dtype == .i64 } + tensors.filter { $0.dtype != .i64 }
    var entries: [String: Any] = ["__metadata__": metadata]
    var offset = 0
    for tensor in tensors {
        entries[tensor.name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape,
                                "data_offsets": [offset, offset + tensor.byteCount]]
        offset += tensor.byteCount
    }
    var header = try JSONSerialization.data(withJSONObject: entries,
                                            options: [.sortedKeys, .withoutEscapingSlashes])
    // Pad with spaces so that the data starts at a multiple of 8 bytes, as the reference does.
    header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

    var bytes: [UInt8] = []
    bytes.reserveCapacity(8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: header)
    for tensor in tensors { tensor.append(to: &bytes) }
    return bytes
}

/// How a file's tensors differ from the state they are to be read into.
enum StoredTensorMismatch {
    /// The state has `tensors`; the file lacks them, and holds `unused`, which the state
    /// has no tensor of that name for.
    case missing(tensors: [String], unused: [String])
    /// The file has `tensor`; the state does not.
    case unexpected(tensor: String)
    /// `tensor` is `dtype` in the file, `expected` in the state.
    case dtype(tensor: String, dtype: String, expected: String)
    /// `tensor` has `shape` in the file, `expected` in the state.
    case shape(tensor: String, shape: [Int], expected: [Int])
    /// The counter `tensor` holds `count` in the file, outside `Counter.readableCounts`.
    case count(tensor: String, count: Int64)

    /// The error that loading a model from `source` throws for it.
    func modelError(source: String) -> DeepLearningError {
        switch self {
        case let .missing(tensors, unused):
            .missingTensor(path: source, tensors: tensors, unused: unused)
        case let .unexpected(tensor): .unexpectedTensor(path: source, tensor: tensor)
        case let .dtype(tensor, dtype, expected):
            .unsupportedDType(path: source, tensor: tensor, dtype: dtype, expected: expected)
        case let .shape(tensor, shape, expected):
            .shapeMismatch(path: source, tensor: tensor, shape: shape, expected: expected)
        case let .count(tensor, count): .invalidCount(path: source, tensor: tensor, count: count)
        }
    }
}

/// `readSafeTensorsImage` of the regular file at `path`, reading only its header and then its
/// tensors' bytes.
@discardableResult
func readSafeTensorsFile(
    at path: String, into tensors: ([String: String], String) throws -> [StoredTensor],
    strict: Bool = true, mismatch: (StoredTensorMismatch) -> DeepLearningError
) throws -> SafeTensorsRead {
    let file = try RegularFileReader(path: path)
    return try readSafeTensorsImage(imageSize: file.size, source: path,
                                    reading: { ArraySlice(try file.read($0)) },
                                    into: tensors, strict: strict, mismatch: mismatch)
}

/// What `readSafeTensorsImage` found: the image's metadata, and, when it read non-strictly,
/// the names of the tensors asked for that the image lacks (in their order) and of the
/// image's tensors not asked for (sorted); both empty when it read strictly.
struct SafeTensorsRead {
    let metadata: [String: String]
    let missing: [String]
    let unexpected: [String]
}

/// Reads the safetensors image of `imageSize` bytes that `read` gives by offsets into the
/// tensors that `tensors` names for the image's metadata (and `source`, which names the image
/// in errors). First the header is checked in full (its length, JSON, entries and their
/// tiling of the data); then that the image holds exactly those tensors (`strict`), or the
/// ones of them it has (not `strict`), with their dtypes and shapes; then the data section,
/// whose size the tiling bounds, is read and its counters checked (else it throws
/// `mismatch`'s error); only then is it read into the tensors. Nothing is written before
/// every check has passed.
@discardableResult
func readSafeTensorsImage(
    imageSize: Int, source: String, reading read: (Range<Int>) throws -> ArraySlice<UInt8>,
    into tensors: ([String: String], String) throws -> [StoredTensor], strict: Bool = true,
    mismatch: (StoredTensorMismatch) -> DeepLearningError
) throws -> SafeTensorsRead {
    guard imageSize >= 8 else {
        throw DeepLearningError.truncatedHeader(path: source, size: imageSize, headerLength: nil)
    }
    let headerLength = try SafeTensorsHeader.length(announcedBy: read(0..<8),
                                                    imageSize: imageSize, source: source)
    let dataStart = 8 + headerLength
    let header = try SafeTensorsHeader(read(8..<dataStart), dataSize: imageSize - dataStart,
                                       source: source)
    let asked = try tensors(header.metadata, source)
    let names = Set(asked.map(\.name))
    let unused = header.entries.keys.filter { !names.contains($0) }.sorted()
    let missing = asked.filter { header.entries[$0.name] == nil }.map(\.name)
    if strict, !missing.isEmpty { throw mismatch(.missing(tensors: missing, unused: unused)) }
    let tensors = asked.filter { header.entries[$0.name] != nil }
    var offsets: [Int] = []
    for tensor in tensors {
        let entry = header.entries[tensor.name]!
        guard entry.dtype == tensor.dtype else {
            throw mismatch(.dtype(tensor: tensor.name, dtype: entry.dtype.rawValue,
                                  expected: tensor.dtype.rawValue))
        }
        guard entry.shape == tensor.shape else {
            throw mismatch(.shape(tensor: tensor.name, shape: entry.shape, expected: tensor.shape))
        }
        offsets.append(entry.begin)
    }
    if strict, let extra = unused.first { throw mismatch(.unexpected(tensor: extra)) }
    // The header's entries tile the data section: it is as large as they are (the tensors
    // asked for, and, not `strict`, the image's others).
    let data = try read(dataStart..<imageSize)
    try data.withUnsafeBytes { raw in
        for (tensor, offset) in zip(tensors, offsets) {
            if let count = tensor.unreadableCount(in: raw, at: offset) {
                throw mismatch(.count(tensor: tensor.name, count: count))
            }
        }
        for (tensor, offset) in zip(tensors, offsets) { tensor.read(from: raw, at: offset) }
    }
    return SafeTensorsRead(metadata: header.metadata, missing: strict ? [] : missing,
                           unexpected: strict ? [] : unused)
}
