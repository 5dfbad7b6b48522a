#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The calling thread's block of `count` Ints under `key`, allocated and zeroed on the
/// thread's first call: the storage of the per-thread caches (`ThreadBufferCache`,
/// `GradientTensorCache`, `TensorStorage`'s), whose key's destructor empties and deallocates it.
func threadLocalBlock(_ key: pthread_key_t, count: Int) -> UnsafeMutablePointer<Int> {
    if let block = pthread_getspecific(key) { return block.assumingMemoryBound(to: Int.self) }
    let block = UnsafeMutablePointer<Int>.allocate(capacity: count)
    block.initialize(repeating: 0, count: count)
    pthread_setspecific(key, block)
    return block
}

/// A key for per-thread stacks of retained objects in a `threadLocalBlock`: the number held,
/// then the objects' addresses (`Unmanaged.passRetained`). Its destructor releases them and
/// deallocates the block when the thread ends. `owner` names the cache in the message if the
/// key cannot be created.
func threadObjectStackKey(_ owner: String) -> pthread_key_t {
    var key = pthread_key_t()
    let status = pthread_key_create(&key) { raw in
        guard let raw else { return }
        let stack = raw.assumingMemoryBound(to: Int.self)
        for index in 0..<stack[0] {
            Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(bitPattern: stack[index + 1])!)
                .release()
        }
        stack.deallocate()
    }
    precondition(status == 0, "\(owner): pthread_key_create failed (\(status))")
    return key
}
