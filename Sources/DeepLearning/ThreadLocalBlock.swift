#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The calling thread's block of `count` Ints under `key`, allocated and zeroed on the
/// thread's first call: the storage of the per-thread caches (`ThreadBufferCache`,
/// `GradientTensorCache`), whose key's destructor empties and deallocates it.
func threadLocalBlock(_ key: pthread_key_t, count: Int) -> UnsafeMutablePointer<Int> {
    if let block = pthread_getspecific(key) { return block.assumingMemoryBound(to: Int.self) }
    let block = UnsafeMutablePointer<Int>.allocate(capacity: count)
    block.initialize(repeating: 0, count: count)
    pthread_setspecific(key, block)
    return block
}
