/// The buffers and counters of a tree of layers, each tensor and counter once however many
/// paths reach it: `Model.fit` remembers them before each batch and puts them back when the
/// batch throws before its update, so that a failed batch (a loss that is not finite, whose
/// statistics are NaN most often) leaves nothing its passes wrote in place: `BatchNorm`'s
/// running statistics and count, a buffer or `Counter` that a layer of yours updates.
///
/// A buffer is copied only when its `version` differs from the one at its last copy. Every
/// write to a tensor's values raises that version (`withUnsafeMutableBufferPointer(_:)`, the
/// library's own writes through `countInPlaceWrite()`: loading, initializers, `BatchNorm`), so
/// a buffer whose version is unchanged still holds the values copied: a buffer the batches
/// only read (a constant table) is copied once per `fit`, one they write (running statistics)
/// once per batch. Counters, one `Int64` each, are copied every batch. Everything is allocated
/// in `init`: remembering and restoring allocate nothing.
final class RememberedLayerState {
    /// The buffers with at least one value, each once.
    private let buffers: [Tensor]
    /// Where each buffer's values start in `copies`.
    private let offsets: [Int]
    /// The values of every buffer, one after another, as `remember()` last found them.
    private let copies: TensorStorage
    /// The version of each buffer when `copies` last held its values.
    @exclusivity(unchecked) private var versions: [Int]
    /// The counters, each once.
    private let counters: [Counter]
    /// Each counter's value as `remember()` last found it.
    @exclusivity(unchecked) private var counts: [Int64]

    /// The buffers and counters of every layer of `tree` (a `layerTree`), remembered as they
    /// are now.
    init(of tree: [(path: String, layer: any Layer)]) {
        buffers = firstOccurrences(of: tree.flatMap { $0.layer.namedBuffers.map(\.tensor) })
            .filter { $0.count > 0 }
        offsets = Array(buffers.reduce(into: [0]) { $0.append($0.last! + $1.count) }.dropLast())
        copies = TensorStorage.make(count: buffers.reduce(0) { $0 + $1.count }, zeroed: false,
                                    for: "Model.fit: the copy of the layers' buffers")
        versions = buffers.map { $0.version &+ 1 } // differs from every version: all copied now
        counters = firstOccurrences(of: tree.flatMap { $0.layer.namedCounters.map(\.counter) })
        counts = counters.map(\.value)
        remember()
    }

    /// Copies the buffers written since their last copy and every counter.
    func remember() {
        for index in buffers.indices where buffers[index].version != versions[index] {
            let buffer = buffers[index]
            (copies.base + offsets[index]).update(from: buffer.value, count: buffer.count)
            versions[index] = buffer.version
        }
        for index in counters.indices { counts[index] = counters[index].value }
    }

    /// Puts back the values `remember()` last copied: of each buffer written since (raising its
    /// version, so that a graph which saved it detects the change), and of every counter.
    func restore() {
        for index in buffers.indices where buffers[index].version != versions[index] {
            let buffer = buffers[index]
            buffer.value.update(from: copies.base + offsets[index], count: buffer.count)
            buffer.countInPlaceWrite()
        }
        // Only now, after every restore: two views of one storage share its version, and
        // restoring one raises the other's too.
        for index in buffers.indices { versions[index] = buffers[index].version }
        for index in counters.indices { counters[index].value = counts[index] }
    }
}
