// What a model's layers store in a safetensors file, under which names and in which layout.

/// How a file names and lays out a model's tensors, read from its `__metadata__`.
enum StoredLayout: Equatable {
    /// PyTorch's `state_dict` of an `nn.Sequential`: `Linear`'s weight `[out, in]`, every
    /// layer's parameters, buffers and counters under their names. `Model.save(to:)` writes it
    /// and marks it with `"layout": "pytorch"` beside `"format": "DeepLearning"`; a file
    /// without our format marker (written by PyTorch or another tool) is read in it too.
    case pytorch
    /// The library's first layout, still read, never written: `Linear`'s weight `[in, out]`,
    /// `Conv2D`'s parameters under their indices ("0", "1"), no counters. A file marked
    /// `"format": "DeepLearning"` without a layout is read in it; loading one sets the model's
    /// counters to 0.
    case original

    /// The value of the `"layout"` key that `save(to:)` writes.
    static let pytorchMarker = "pytorch"

    /// The value of the `"content"` key that marks a training checkpoint
    /// (`Model.saveCheckpoint`), which holds no model.
    static let checkpointMarker = "training checkpoint"

    /// The layout of a file with `metadata`; throws `invalidHeader` naming `source` when the
    /// file is a training checkpoint or our marker names a layout this version does not know.
    init(metadata: [String: String], source: String) throws {
        guard metadata["format"] == "DeepLearning" else {
            self = .pytorch
            return
        }
        guard metadata["content"] != StoredLayout.checkpointMarker else {
            throw DeepLearningError.invalidHeader(
                path: source,
                problem: "it is a training checkpoint (its __metadata__ has \"content\": \"\(StoredLayout.checkpointMarker)\"), not a model's file; resume training from it with fit(..., resumingFrom:) or restoreCheckpoint(from:optimizer:)")
        }
        switch metadata["layout"] {
        case nil: self = .original
        case StoredLayout.pytorchMarker?: self = .pytorch
        case let layout?:
            throw DeepLearningError.invalidHeader(
                path: source,
                problem: "its __metadata__ names the layout \"\(layout)\"; this version reads \"\(StoredLayout.pytorchMarker)\" and files without a layout")
        }
    }
}

/// One tensor of a file and the state it is read into or written from: a `Float` tensor (F32,
/// a matrix perhaps transposed), a counter (an I64 scalar, shape `[]`) or a list of 64-bit
/// integers (I64, shape `[count]`).
struct StoredTensor {
    enum Value {
        /// `tensor`, stored as its transpose when `transposed` (a matrix `[r, c]` stored
        /// `[c, r]`).
        case floats(Tensor, transposed: Bool)
        case counter(Counter)
        case integers(IntegerList)
    }

    let name: String
    let value: Value

    init(name: String, value: Value) {
        if case let .floats(tensor, true) = value {
            require(tensor.shape.count == 2,
                    "\(name): only a matrix can be stored transposed, not a tensor of shape \(tensor.shape)")
        }
        self.name = name
        self.value = value
    }

    var dtype: SafeTensorsDType {
        if case .floats = value { .f32 } else { .i64 }
    }

    /// The shape in the file.
    var shape: [Int] {
        switch value {
        case let .floats(tensor, transposed): transposed ? tensor.shape.reversed() : tensor.shape
        case .counter: []
        case let .integers(list): [list.values.count]
        }
    }

    var byteCount: Int {
        switch value {
        case let .floats(tensor, _): 4 * tensor.count
        case .counter: 8
        case let .integers(list): 8 * list.values.count
        }
    }

    /// The file's element order: for a transposed `[r, c]` matrix, element (i, j) of memory
    /// is element (j, i) of the file, at j·r + i; else the memory's order.
    private func memoryIndices(of tensor: Tensor, transposed: Bool) -> [Int] {
        guard transposed else { return Array(0..<tensor.count) }
        let (rows, columns) = (tensor.shape[0], tensor.shape[1])
        return (0..<columns).flatMap { j in (0..<rows).map { i in i * columns + j } }
    }

    /// Appends its little-endian bytes in the file's layout. Stops with a message for a
    /// negative counter, which no training makes.
    func append(to bytes: inout [UInt8]) {
        switch value {
        case let .floats(tensor, transposed):
            for index in memoryIndices(of: tensor, transposed: transposed) {
                withUnsafeBytes(of: tensor.value[index].bitPattern.littleEndian) {
                    bytes.append(contentsOf: $0)
                }
            }
        case let .counter(counter):
            require(counter.value >= 0,
                    "\(name): the count \(counter.value) is negative, a count no training makes")
            withUnsafeBytes(of: counter.value.littleEndian) { bytes.append(contentsOf: $0) }
        case let .integers(list):
            for value in list.values {
                withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
    }

    /// Sets the state from its `byteCount` little-endian bytes at `offset` of `data`.
    func read(from data: UnsafeRawBufferPointer, at offset: Int) {
        switch value {
        case let .floats(tensor, transposed):
            tensor.countInPlaceWrite()
            for (position, index) in memoryIndices(of: tensor, transposed: transposed).enumerated() {
                let bits = data.loadUnaligned(fromByteOffset: offset + 4 * position, as: UInt32.self)
                tensor.value[index] = Float(bitPattern: UInt32(littleEndian: bits))
            }
        case let .counter(counter):
            counter.value = int64(in: data, at: offset)
        case let .integers(list):
            for index in list.values.indices {
                list.values[index] = int64(in: data, at: offset + 8 * index)
            }
        }
    }

    /// For a counter, the count its bytes at `offset` of `data` hold when it is outside
    /// `Counter.readableCounts`; nil when it is inside, and for every other state.
    func unreadableCount(in data: UnsafeRawBufferPointer, at offset: Int) -> Int64? {
        guard case .counter = value else { return nil }
        let count = int64(in: data, at: offset)
        return Counter.readableCounts.contains(count) ? nil : count
    }
}

/// The little-endian 64-bit integer at `offset` of `data`.
private func int64(in data: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
    Int64(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: Int64.self))
}

/// 64-bit integers that a file stores as an I64 list and that reading fills in place: a
/// generator's state, a permutation of samples.
final class IntegerList {
    var values: [Int64]

    init(_ values: [Int64]) { self.values = values }
}

extension Layer {
    /// Its own parameters, buffers and counters (not its sub-layers') as `layout` stores them,
    /// named without the layer's path.
    func storedTensors(in layout: StoredLayout) -> [StoredTensor] {
        switch layout {
        case .pytorch:
            let transposed = namesTransposedInFiles
            return (namedParameters + namedBuffers).map {
                StoredTensor(name: $0.name, value: .floats($0.tensor, transposed: transposed.contains($0.name)))
            } + namedCounters.map { StoredTensor(name: $0.name, value: .counter($0.counter)) }
        case .original:
            // This layout names Conv2D's parameters by their indices, "0" and "1".
            let parameters = self is Conv2D
                ? parameters.enumerated().map { (name: String($0.offset), tensor: $0.element) }
                : namedParameters
            return (parameters + namedBuffers).map {
                StoredTensor(name: $0.name, value: .floats($0.tensor, transposed: false))
            }
        }
    }
}
