#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Recycles the 64-byte-aligned float buffers behind tensors, so that a training loop which
/// creates its tensors anew every step (operations on the graph) allocates no buffers after
/// its first step.
///
/// Buffers are kept in size classes, four per power of two of bytes (64, 80, 96, 112, 128,
/// 160, ... bytes): a request is rounded up to its class, so at most a quarter of a buffer is
/// unused. A freed buffer goes back to its class's list unless the pool already holds
/// `limitBytes` of buffers, in which case it is returned to the system. Thread-safe (one lock
/// around the lists); tensors reach it through `ThreadBufferCache`, which keeps a few small
/// buffers per thread in front of it.
///
/// Buffers of `hugePageBytes` or more (a layer's weights, their gradients and momenta, large
/// activations) start on a 2 MiB boundary and are marked for transparent huge pages on Linux
/// (`allocate(bytes:)`).
final class BufferPool: Sendable {
    /// The pool every tensor's storage comes from.
    static let shared = BufferPool(limitBytes: 1 << 30)

    /// How many buffers the pools have taken from the system in this process (for tests that
    /// check a training step allocates nothing): not those they recycled, nor the values of
    /// up to `TensorStorage.inlineCount` floats, which live in their storage object.
    static let allocations = Atomic<Int>(0)

    /// The most bytes of free buffers the pool keeps.
    let limitBytes: Int

    private struct Lists: ~Copyable {
        /// Free buffers (their addresses) of each size class.
        var free: [[UInt]] = []
        /// The bytes of all buffers in `free`.
        var bytes = 0
    }

    private let lists = Mutex(Lists())

    init(limitBytes: Int) { self.limitBytes = limitBytes }

    /// Returns the free buffers to the system (a pool other than `shared`, in tests).
    deinit {
        lists.withLock { lists in
            for address in lists.free.joined() {
                free(UnsafeMutableRawPointer(bitPattern: address))
            }
        }
    }

    /// The size class of a buffer of `count` floats (at most `largestCount`), and its size in
    /// bytes.
    static func sizeClass(forCount count: Int) -> (index: Int, bytes: Int) {
        let needed = max(count, 16) * MemoryLayout<Float>.stride
        // needed = m·2^e with m in [4, 8): the class rounds m up to an integer.
        let exponent = (Int.bitWidth - 1 - needed.leadingZeroBitCount) - 2
        var mantissa = (needed + (1 << exponent) - 1) >> exponent
        var e = exponent
        if mantissa == 8 { mantissa = 4; e += 1 }
        return (index: (e - 4) * 4 + (mantissa - 4), bytes: mantissa << e)
    }

    /// The most floats a buffer may hold: 2^62 bytes, more than any machine addresses (x86-64
    /// at most 2^57, AArch64 2^52), and few enough that its size class's bytes fit in an Int.
    static let largestCount = 1 << 60

    /// A buffer of at least `count` floats (its contents unspecified) and its size class, or
    /// nil when the system cannot allocate it (the caller stops with a message naming the
    /// buffer: `stopUnallocated(count:for:)`).
    func take(count: Int) -> (pointer: UnsafeMutablePointer<Float>, sizeClass: Int)? {
        guard count <= BufferPool.largestCount else { return nil }
        let (index, bytes) = BufferPool.sizeClass(forCount: count)
        let reused: UInt? = lists.withLock { lists in
            guard index < lists.free.count, let address = lists.free[index].popLast() else {
                return nil
            }
            lists.bytes -= bytes
            return address
        }
        let raw: UnsafeMutableRawPointer
        if let reused {
            raw = UnsafeMutableRawPointer(bitPattern: reused)!
        } else {
            guard let allocated = BufferPool.allocate(bytes: bytes) else { return nil }
            BufferPool.allocations.add(1, ordering: .relaxed)
            raw = allocated
        }
        return (raw.bindMemory(to: Float.self, capacity: bytes / MemoryLayout<Float>.stride),
                index)
    }

    /// Stops with "`buffer` needs N bytes, which the system cannot allocate", N being the
    /// bytes of `count` floats (the buffer asked for is up to a quarter larger: its class).
    ///
    /// What this catches: a request the system refuses at once. On Linux that is one larger
    /// than the address space, or (with the default overcommit setting,
    /// `vm.overcommit_memory` 0) clearly larger than the RAM and swap. A request the system
    /// grants without having the memory (Linux overcommits) fails later, when the pages are
    /// first written, and the kernel's out-of-memory killer ends the process with no message
    /// from here; the library does not guess at free memory beforehand.
    static func stopUnallocated(count: Int, for buffer: String) -> Never {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        stop("\(buffer) needs \(overflow ? "more than \(Int.max)" : "\(bytes)") bytes, which the system cannot allocate")
    }

    /// Takes back a buffer, given by its address, of class `sizeClass`.
    func give(address: UInt, sizeClass: Int) {
        give(UnsafeMutableRawPointer(bitPattern: address)!.assumingMemoryBound(to: Float.self),
             sizeClass: sizeClass)
    }

    /// Takes back a buffer from `take(count:)`, of class `sizeClass`.
    func give(_ pointer: UnsafeMutablePointer<Float>, sizeClass: Int) {
        let bytes = BufferPool.bytes(ofClass: sizeClass)
        let kept = lists.withLock { lists in
            guard lists.bytes + bytes <= limitBytes else { return false }
            while lists.free.count <= sizeClass { lists.free.append([]) }
            lists.free[sizeClass].append(UInt(bitPattern: pointer))
            lists.bytes += bytes
            return true
        }
        if !kept { free(pointer) }
    }

    /// The size of a huge page on x86-64 and of the buffers that get them.
    static let hugePageBytes = 1 << 21

    /// A new buffer of `bytes` bytes, 64-byte aligned, or nil when the system refuses it
    /// (`posix_memalign`; `free` gives it back). From `hugePageBytes` on, it starts on a
    /// huge-page boundary and is marked for transparent huge pages (`MADV_HUGEPAGE`; Linux
    /// backs such memory with them when its setting is "madvise" or "always"). Kernels walk
    /// these buffers along rows thousands of bytes apart (a GEMM packing a layer's weights
    /// reads each row on another 4 KiB page): with 2 MiB pages those reads stop missing the
    /// TLB. The advice may be refused (no huge pages in the kernel): the buffer then stays as
    /// it is.
    private static func allocate(bytes: Int) -> UnsafeMutableRawPointer? {
        let isHuge = bytes >= hugePageBytes
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, isHuge ? hugePageBytes : 64, bytes) == 0, let raw else {
            return nil
        }
        #if os(Linux)
        if isHuge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        #endif
        return raw
    }

    /// The bytes of a buffer of class `index`.
    static func bytes(ofClass index: Int) -> Int { (4 + index % 4) << (index / 4 + 4) }

    /// The bytes of free buffers the pool holds now.
    var cachedBytes: Int { lists.withLock { $0.bytes } }
}
