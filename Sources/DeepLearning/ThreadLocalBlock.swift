#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A pthread key, as the per-thread caches name its type.
typealias ThreadKey = pthread_key_t

/// The value of a key variable of `threadLocalBlock(_:count:destructor:)` before its key is
/// created.
let noThreadKey = ThreadKey.max

/// What a key's destructor is given when a thread ends: the thread's block.
typealias ThreadBlockDestructor = @convention(c) (UnsafeMutableRawPointer?) -> Void

/// The calling thread's block of `count` Ints under the pthread key in `key`, allocated and
/// zeroed on the thread's first call: the storage of the per-thread caches
/// (`ThreadBufferCache`, and the stacks of `threadObjectStack(_:slots:)`). The key is created
/// by the first call of any thread (`key` holds `noThreadKey` until then), with `destructor`,
/// which empties and deallocates a thread's block when the thread ends. An atomic rather than
/// a lazily initialized `static let`, whose every read would pay for the check of its
/// initialization.
func threadLocalBlock(_ key: borrowing Atomic<ThreadKey>, count: Int,
                      destructor: ThreadBlockDestructor) -> UnsafeMutablePointer<Int> {
    var current = key.load(ordering: .acquiring)
    if current == noThreadKey { current = createThreadKey(key, destructor: destructor) }
    if let block = pthread_getspecific(current) {
        return block.assumingMemoryBound(to: Int.self)
    }
    let block = UnsafeMutablePointer<Int>.allocate(capacity: count)
    block.initialize(repeating: 0, count: count)
    pthread_setspecific(current, block)
    return block
}

/// The calling thread's stack of retained objects: a `threadLocalBlock` of `1 + slots` Ints,
/// the number held, then the objects' addresses (`Unmanaged.passRetained`). The key's
/// destructor releases the objects and deallocates the block when the thread ends.
@inline(__always)
private func threadObjectStack(_ key: borrowing Atomic<ThreadKey>,
                               slots: Int) -> UnsafeMutablePointer<Int> {
    threadLocalBlock(key, count: 1 + slots, destructor: releaseThreadObjectStack)
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

/// Takes the object last kept on the calling thread's stack under `key`
/// (`keepOnThreadObjectStack`) when there is one and `accepted` holds for it; otherwise nil,
/// and the stack is left as it was. Every object kept under `key` must be a `T`.
@inline(__always)
func takeFromThreadObjectStack<T: AnyObject>(
    _ key: borrowing Atomic<ThreadKey>, slots: Int, as type: T.Type,
    where accepted: (T) -> Bool = { _ in true }
) -> T? {
    let stack = threadObjectStack(key, slots: slots)
    let held = stack[0]
    guard held > 0 else { return nil }
    let last = Unmanaged<T>.fromOpaque(UnsafeRawPointer(bitPattern: stack[held])!)
    guard last._withUnsafeGuaranteedRef({ accepted($0) }) else { return nil }
    stack[0] = held - 1
    return last.takeRetainedValue()
}

/// The destructor of `threadObjectStack(_:slots:)`'s key: releases the objects held and
/// deallocates the block.
private func releaseThreadObjectStack(_ raw: UnsafeMutableRawPointer?) {
    guard let raw else { return }
    let stack = raw.assumingMemoryBound(to: Int.self)
    for index in 0..<stack[0] {
        Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(bitPattern: stack[index + 1])!)
            .release()
    }
    stack.deallocate()
}

/// Creates a pthread key with `destructor` and stores it in `key`, or returns the one another
/// thread stored first (deleting its own).
@inline(never)
private func createThreadKey(_ key: borrowing Atomic<ThreadKey>,
                             destructor: ThreadBlockDestructor) -> ThreadKey {
    var created = ThreadKey()
    let status = pthread_key_create(&created, destructor)
    require(status == 0 && created != noThreadKey,
            "threadLocalBlock: pthread_key_create failed (\(status))")
    let (stored, winner) = key.compareExchange(expected: noThreadKey, desired: created,
                                               ordering: .acquiringAndReleasing)
    if stored { return created }
    pthread_key_delete(created)
    return winner
}
