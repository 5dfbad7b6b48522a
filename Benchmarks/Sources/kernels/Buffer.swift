import DeepLearning

/// A 64-byte-aligned buffer that C kernels read and write through `pointer`. A class, so that
/// a closure calling a kernel keeps its operands alive by capturing them.
final class Buffer<Element> {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(count: Int, element: (Int) -> Element) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Element>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        for i in 0..<count { (pointer + i).initialize(to: element(i)) }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// `count` floats uniform in [-1, 1), the same for the same seed.
func randomFloats(_ count: Int, seed: UInt64) -> Buffer<Float> {
    var generator = SeededGenerator(seed: seed)
    return Buffer(count: count) { _ in Float(generator.next() >> 40) / Float(1 << 23) - 1 }
}
