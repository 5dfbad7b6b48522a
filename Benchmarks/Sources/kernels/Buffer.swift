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

/// SplitMix64: reproducible operands without Foundation.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

/// `count` floats uniform in [-1, 1), the same for the same seed.
func randomFloats(_ count: Int, seed: UInt64) -> Buffer<Float> {
    var generator = SplitMix64(state: seed)
    return Buffer(count: count) { _ in generator.nextFloat() }
}
