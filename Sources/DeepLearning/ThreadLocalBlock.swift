#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The calling thread's block of `count` Ints under `key`, allocated and zeroed on the
/// thread's first call: the storage of the per-thread caches (`ThreadBufferCache`, and the
/// stacks of `threadObjectStack(_:slots:)`), whose key's destructor empties and deallocates it.
func threadLocalBlock(_ key: pthread_key_t, count: Int) -> UnsafeMutablePointer<Int> {
    if let block = pthread_getspecific(key) { return block.assumingMemoryBound(to: Int.self) }
    let block = UnsafeMutablePointer<Int>.allocate(capacity: count)
    block.initialize(repeating: 0, count: count)
    pthread_setspecific(key, block)
    return block
}

/// A pthread key, as the per-thread caches name its type.
typealias ThreadKey = pthread_key_t

/// The value of a key variable of `threadObjectStack(_:slots:)` before its key is created.
let noThreadKey = ThreadKey.max

/// The calling thread's stack of retained objects: a `threadLocalBlock` of `1 + slots` Ints,
/// the number held, then the objects' addresses (`Unmanaged.passRetained`). Its pthread key
/// is in `key`, created by the first call of any thread (`noThreadKey` until then); an atomic
/// rather than a lazily initialized `static let`, whose every read would pay for the check
/// of its initialization. The key's destructor releases the objects and deallocates the
/// block when the thread ends.
func threadObjectStack(_ key: borrowing Atomic<ThreadKey>,
                       slots: Int) -> UnsafeMutablePointer<Int> {
    var current = key.load(ordering: .acquiring)
    if current == noThreadKey { current = createObjectStackKey(key) }
    return threadLocalBlock(current, count: 1 + slots)
}

/// Keeps `object` (retained) on the calling thread's stack under `key`
/// (`threadObjectStack(_:slots:)`) when it holds fewer than `slots`; otherwise lets it go.
func keepOnThreadObjectStack(_ object: AnyObject, _ key: borrowing Atomic<ThreadKey>,
                             slots: Int) {
    let stack = threadObjectStack(key, slots: slots)
    let held = stack[0]
    guard held < slots else { return }
    stack[held + 1] = Int(bitPattern: Unmanaged.passRetained(object).toOpaque())
    stack[0] = held + 1
}

/// Creates the key of `threadObjectStack(_:slots:)` and stores it in `key`, or returns the
/// one another thread stored first (deleting its own).
@inline(never)
private func createObjectStackKey(_ key: borrowing Atomic<ThreadKey>) -> ThreadKey {
    var created = ThreadKey()
    let status = pthread_key_create(&created) { raw in
        guard let raw else { return }
        let stack = raw.assumingMemoryBound(to: Int.self)
        for index in 0..<stack[0] {
            Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(bitPattern: stack[index + 1])!)
                .release()
        }
        stack.deallocate()
    }
    precondition(status == 0 && created != noThreadKey,
                 "threadObjectStack: pthread_key_create failed (\(status))")
    let (stored, winner) = key.compareExchange(expected: noThreadKey, desired: created,
                                               ordering: .acquiringAndReleasing)
    if stored { return created }
    pthread_key_delete(created)
    return winner
}
