#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import XCTest
@testable import DeepLearning

/// The pool behind tensors' buffers: size classes, reuse, and its bound.
final class BufferPoolTests: XCTestCase {
    func testSizeClassesRoundUpByAtMostAQuarter() {
        var previous = 0
        for count in 1...5000 {
            let (index, bytes) = BufferPool.sizeClass(forCount: count)
            let needed = max(count, 16) * 4
            XCTAssertGreaterThanOrEqual(bytes, needed)
            XCTAssertLessThanOrEqual(Double(bytes), 1.25 * Double(needed), "count \(count)")
            XCTAssertEqual(BufferPool.bytes(ofClass: index), bytes)
            XCTAssertGreaterThanOrEqual(index, previous)
            previous = index
        }
        XCTAssertEqual(BufferPool.sizeClass(forCount: 16).bytes, 64)
        XCTAssertEqual(BufferPool.sizeClass(forCount: 17).bytes, 80)
    }

    /// The largest buffer the pool hands out has a size class whose bytes fit in an Int.
    func testTheLargestCountHasASizeClass() {
        let (index, bytes) = BufferPool.sizeClass(forCount: BufferPool.largestCount)
        XCTAssertEqual(bytes, BufferPool.largestCount * 4)
        XCTAssertEqual(BufferPool.bytes(ofClass: index), bytes)
    }

    /// A buffer larger than any size class is nil, from the pool and from the thread's cache,
    /// without asking the system: the caller names it in its message (`TensorStorage.make`).
    /// Buffers the system refuses are tested by their messages, in child processes (an
    /// address sanitizer stops a process that asks for 2^62 bytes).
    func testABufferLargerThanAnySizeClassIsNil() {
        XCTAssertNil(BufferPool(limitBytes: 0).take(count: BufferPool.largestCount + 1))
        XCTAssertNil(ThreadBufferCache.take(count: Int.max))
    }

    func testLargeBuffersStartOnAHugePageAndAskForHugePages() throws {
        let pool = BufferPool(limitBytes: 0)
        let count = BufferPool.hugePageBytes / 4 + 1000          // a class of 2.5 MiB
        let (buffer, sizeClass) = pool.take(count: count)!
        defer { pool.give(buffer, sizeClass: sizeClass) }
        XCTAssertEqual(Int(bitPattern: buffer) % BufferPool.hugePageBytes, 0)
        #if os(Linux)
        guard FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage") else {
            throw XCTSkip("this kernel has no transparent huge pages")
        }
        // /proc/self/smaps: a "start-end ..." line per mapping, then its fields, among them
        // "VmFlags:", where "hg" is MADV_HUGEPAGE.
        let address = UInt(bitPattern: buffer)
        var inMapping = false
        var flags: String?
        // (Read to the end: /proc files report a size of 0.)
        let smaps = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps"))
        let text = String(decoding: try XCTUnwrap(smaps.readToEnd()), as: UTF8.self)
        for line in text.split(separator: "\n") {
            let range = line.split(separator: " ", maxSplits: 1)[0].split(separator: "-")
            if range.count == 2, let start = UInt(range[0], radix: 16),
               let end = UInt(range[1], radix: 16) {
                inMapping = start <= address && address < end
            } else if inMapping, line.hasPrefix("VmFlags:") {
                flags = String(line)
            }
        }
        let vmFlags = try XCTUnwrap(flags, "no mapping holds the buffer")
        XCTAssertTrue(vmFlags.split(separator: " ").contains("hg"), vmFlags)
        #endif
    }

    func testFreedBuffersAreReusedUpToTheBound() {
        let pool = BufferPool(limitBytes: 1024)
        // 400 bytes: class of 448
        let (first, firstClass) = pool.take(count: 100)!
        XCTAssertEqual(Int(bitPattern: first) % 64, 0)
        pool.give(first, sizeClass: firstClass)
        XCTAssertEqual(pool.cachedBytes, 448)
        let before = BufferPool.allocations.load(ordering: .relaxed)
        let (again, _) = pool.take(count: 110)!      // the same class
        XCTAssertEqual(again, first)
        XCTAssertEqual(BufferPool.allocations.load(ordering: .relaxed), before)
        XCTAssertEqual(pool.cachedBytes, 0)
        let (second, secondClass) = pool.take(count: 100)!
        let (third, thirdClass) = pool.take(count: 100)!
        pool.give(again, sizeClass: firstClass)
        pool.give(second, sizeClass: secondClass)
        pool.give(third, sizeClass: thirdClass)                 // over 1024 bytes: freed
        XCTAssertEqual(pool.cachedBytes, 896)
    }

    /// The address of the buffer a thread of the test below took and gave back.
    private static let threadsBuffer = Atomic<UInt>(0)

    func testTheThreadCacheReusesABufferAndHandsItToThePoolWhenItsThreadEnds() {
        let (first, firstClass) = ThreadBufferCache.take(count: 100)!
        ThreadBufferCache.give(first, sizeClass: firstClass)
        let before = BufferPool.allocations.load(ordering: .relaxed)
        // The same class:
        let (again, againClass) = ThreadBufferCache.take(count: 110)!
        XCTAssertEqual(again, first)
        XCTAssertEqual(BufferPool.allocations.load(ordering: .relaxed), before)
        ThreadBufferCache.give(again, sizeClass: againClass)

        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { _ in
            let (buffer, sizeClass) = ThreadBufferCache.take(count: 5000)!
            BufferPoolTests.threadsBuffer.store(UInt(bitPattern: buffer), ordering: .relaxed)
            ThreadBufferCache.give(buffer, sizeClass: sizeClass)       // into its cache
            return nil
        }, nil)
        XCTAssertEqual(status, 0)
        pthread_join(thread, nil)
        // The ended thread's cache gave the buffer to the shared pool, whose list hands out
        // the last buffer given first.
        let (fromPool, poolClass) = BufferPool.shared.take(count: 5000)!
        XCTAssertEqual(UInt(bitPattern: fromPool),
                       BufferPoolTests.threadsBuffer.load(ordering: .relaxed))
        BufferPool.shared.give(fromPool, sizeClass: poolClass)
    }
}
