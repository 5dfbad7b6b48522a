import Synchronization

/// A per-thread front of `BufferPool.shared` for small buffers, taken and given back without
/// a lock: a tensor's storage comes from here (`TensorStorage`), so that an operation on
/// small tensors, which takes and gives back a buffer or two, pays no atomic operation.
///
/// Each thread holds up to `slots` free buffers of each of the size classes below
/// `classes` (buffers up to 28 KiB; at most about 1.4 MiB a thread). A take from an empty
/// class, and a give to a full one, go to the shared pool. A thread's buffers go back to the
/// shared pool when the thread ends.
enum ThreadBufferCache {
    /// The size classes kept (`BufferPool.sizeClass(forCount:)`): indices below this.
    static let classes = 36
    /// The buffers kept for each class.
    static let slots = 8

    /// The calling thread's cache: `classes` counts (Int), then `classes × slots` addresses
    /// (UInt), class by class. Allocated on the thread's first take or give.
    private static func current() -> UnsafeMutablePointer<Int> {
        threadLocalBlock(key, count: classes * (1 + slots)) { raw in
            guard let raw else { return }
            let cache = raw.assumingMemoryBound(to: Int.self)
            for index in 0..<ThreadBufferCache.classes {
                let slot = ThreadBufferCache.slot(cache, index)
                for held in 0..<cache[index] {
                    BufferPool.shared.give(address: slot[held], sizeClass: index)
                }
            }
            cache.deallocate()
        }
    }

    /// The key of each thread's cache (`threadLocalBlock(_:count:destructor:)`), whose
    /// destructor, above, gives the buffers to the shared pool.
    private static let key = Atomic<ThreadKey>(noThreadKey)

    /// The first of class `index`'s slots in `cache`.
    @inline(__always)
    private static func slot(_ cache: UnsafeMutablePointer<Int>,
                             _ index: Int) -> UnsafeMutablePointer<UInt> {
        UnsafeMutableRawPointer(cache + classes + index * slots).assumingMemoryBound(to: UInt.self)
    }

    /// A buffer of at least `count` floats (its contents unspecified) and its size class, or
    /// nil when the system cannot allocate it (`BufferPool.take(count:)`).
    static func take(count: Int) -> (pointer: UnsafeMutablePointer<Float>, sizeClass: Int)? {
        // (A larger count has no size class: the pool refuses it.)
        if count <= BufferPool.largestCount {
            let index = BufferPool.sizeClass(forCount: count).index
            if index < classes {
                let cache = current()
                let held = cache[index]
                if held > 0 {
                    cache[index] = held - 1
                    let raw = UnsafeMutableRawPointer(bitPattern: slot(cache, index)[held - 1])!
                    let floats = BufferPool.bytes(ofClass: index) / MemoryLayout<Float>.stride
                    return (raw.bindMemory(to: Float.self, capacity: floats), index)
                }
            }
        }
        return BufferPool.shared.take(count: count)
    }

    /// Takes back a buffer from `take(count:)`, of class `sizeClass`.
    static func give(_ pointer: UnsafeMutablePointer<Float>, sizeClass: Int) {
        if sizeClass < classes {
            let cache = current()
            let held = cache[sizeClass]
            if held < slots {
                slot(cache, sizeClass)[held] = UInt(bitPattern: pointer)
                cache[sizeClass] = held + 1
                return
            }
        }
        BufferPool.shared.give(pointer, sizeClass: sizeClass)
    }
}
