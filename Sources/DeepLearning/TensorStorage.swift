import Synchronization

/// The buffer of floats behind a tensor and its views (`reshaped`, `rows(_:)`), with the
/// version count they share.
///
/// A buffer of up to `inlineCount` floats lives in the storage object itself (tail-allocated,
/// one allocation for both): an operation on tiny tensors then pays for neither a buffer cache
/// nor a pool. Such a storage, when the last tensor holding it goes away, is kept on a
/// per-thread stack (`recycle(_:)`) and handed out again as a new one (its version back to 0):
/// an operation on tiny tensors then allocates no storage object either, after the first. A
/// larger buffer comes from `BufferPool.shared` (through the calling thread's
/// `ThreadBufferCache`) and goes back to it when the last tensor using it is freed.
///
/// The version counts writes: `Tensor.withUnsafeMutableBufferPointer` raises it, and a node of
/// the graph that saved a tensor for its backward pass checks that the version is still the
/// one it saved (PyTorch's version counter). Writes through the `value` pointer are not
/// counted.
final class TensorStorage: ManagedBuffer<TensorStorage.Header, Float> {
    struct Header {
        /// The first float; 64-byte aligned.
        let base: UnsafeMutablePointer<Float>
        /// The number of floats asked for (the buffer may hold more).
        var count: Int
        /// The buffer's size class in the pool, or -1 for a buffer inside this object.
        let sizeClass: Int
        /// The number of counted writes so far.
        var version: Int
        /// Whether the buffer is a tensor's gradient (`Tensor.gradientStorageAllocated`).
        var holdsGradient = false
    }

    /// The most floats a buffer inside the storage object holds.
    static let inlineCount = 16
    /// The floats allocated beyond `inlineCount` so that the buffer can start on a 64-byte
    /// boundary (an object's tail starts on a 4-byte one at least).
    private static let alignmentPadding = 15

    /// The inline storages kept per thread.
    static let recycledSlots = 8

    /// A buffer of `count` floats, zeros when `zeroed`, unspecified values otherwise. When the
    /// system cannot allocate it, stops with a message naming `buffer` ("Linear(2 → 3): the
    /// weight: shape [2, 3]") and the bytes; `buffer` is built only for that message.
    static func make(count: Int, zeroed: Bool, for buffer: @autoclosure () -> String)
        -> TensorStorage {
        let storage: ManagedBuffer<Header, Float>
        if count <= inlineCount, let recycled = takeRecycled() {
            recycled.headerPointer.pointee.count = count
            recycled.headerPointer.pointee.version = 0
            recycled.headerPointer.pointee.holdsGradient = false
            storage = recycled
        } else if count <= inlineCount {
            storage = create(minimumCapacity: inlineCount + alignmentPadding) { buffer in
                let tail = buffer.withUnsafeMutablePointerToElements { UInt(bitPattern: $0) }
                let base = UnsafeMutablePointer<Float>(bitPattern: (tail + 63) & ~63)!
                return Header(base: base, count: count, sizeClass: -1, version: 0)
            }
        } else {
            guard let taken = ThreadBufferCache.take(count: count) else {
                BufferPool.stopUnallocated(count: count, for: buffer())
            }
            storage = create(minimumCapacity: 0) { _ in
                Header(base: taken.pointer, count: count, sizeClass: taken.sizeClass, version: 0)
            }
        }
        let tensorStorage = unsafeDowncast(storage, to: TensorStorage.self)
        if zeroed { tensorStorage.base.update(repeating: 0, count: count) }
        return tensorStorage
    }

    /// The header, reached through its address: `header` would pay for a run-time
    /// exclusivity check on every access (nothing passes it `inout`).
    private var headerPointer: UnsafeMutablePointer<Header> {
        withUnsafeMutablePointerToHeader { $0 }
    }

    /// The first float; 64-byte aligned.
    var base: UnsafeMutablePointer<Float> { headerPointer.pointee.base }
    /// The number of floats asked for (the buffer may hold more).
    var count: Int { headerPointer.pointee.count }
    /// The number of counted writes so far.
    var version: Int { headerPointer.pointee.version }
    /// The address of `version`, for counting a write (`versionPointer.pointee &+= 1`). The
    /// object is needed only to find the address: writing through the address afterwards
    /// spares a retain and a release of the object around the write.
    var versionPointer: UnsafeMutablePointer<Int> { headerPointer.pointer(to: \.version)! }
    /// Whether the buffer is a tensor's gradient, into which a backward pass may add.
    var holdsGradient: Bool {
        get { headerPointer.pointee.holdsGradient }
        set { headerPointer.pointee.holdsGradient = newValue }
    }

    /// The last inline storage recycled on this thread, if any.
    private static func takeRecycled() -> TensorStorage? {
        takeFromThreadObjectStack(recycledKey, slots: recycledSlots, as: TensorStorage.self)
    }

    /// Keeps `storage` for `make` when its buffer is inline, nothing else references it
    /// (no tensor, view, saved tensor or gradient of the user's: none can see it reused) and
    /// this thread's stack has room; otherwise lets it go. For a tensor's deinit.
    static func recycle(_ storage: inout TensorStorage) {
        guard storage.headerPointer.pointee.sizeClass < 0, isKnownUniquelyReferenced(&storage)
        else { return }
        keepOnThreadObjectStack(storage, recycledKey, slots: recycledSlots)
    }

    /// The key of each thread's stack of recycled storages (`keepOnThreadObjectStack`).
    private static let recycledKey = Atomic<ThreadKey>(noThreadKey)

    deinit {
        let header = headerPointer.pointee
        if header.sizeClass >= 0 {
            ThreadBufferCache.give(header.base, sizeClass: header.sizeClass)
        }
    }
}
