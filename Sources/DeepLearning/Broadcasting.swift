/// NumPy's broadcasting rule for the element-wise operations: shapes are aligned at their last
/// dimension; two dimensions fit when they are equal or one of them is 1 (a missing dimension
/// counts as 1); the result has the larger of each pair. `[4, 3]` and `[3]` give `[4, 3]`,
/// `[4, 3]` and `[4, 1]` give `[4, 3]`, `[2, 1, 3]` and `[5, 1]` give `[2, 5, 3]`. The kernels
/// take results of up to `maximumRank` dimensions, and equal shapes of any rank (one dimension
/// of all the elements to them, see `withLayout`).
enum Broadcasting {
    /// The largest rank of a broadcast result (the kernels' CK_MAX_RANK).
    static let maximumRank = 8

    /// The shape of `a op b`; stops with a message naming `operation` and both shapes when
    /// they do not fit. (Its rank is checked where the kernels' layout is built, `withLayout`.)
    static func shape(_ a: [Int], _ b: [Int], operation: String) -> [Int] {
        // The common cases without building a new array: one operand's shape is the result.
        if broadcasts(b, to: a) { return a }
        if broadcasts(a, to: b) { return b }
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for d in 0..<rank {
            let x = d < rank - a.count ? 1 : a[d - (rank - a.count)]
            let y = d < rank - b.count ? 1 : b[d - (rank - b.count)]
            require(x == y || x == 1 || y == 1,
                    "\(operation): shapes \(a) and \(b) do not broadcast (dimension \(d) of the result: \(x) against \(y))")
            result[d] = x == 1 ? y : x
        }
        return result
    }

    /// Whether `operand` broadcasts to `shape` unchanged: no more dimensions, and each of its
    /// trailing dimensions equal to `shape`'s or 1.
    private static func broadcasts(_ operand: [Int], to shape: [Int]) -> Bool {
        let offset = shape.count - operand.count
        guard offset >= 0 else { return false }
        for d in operand.indices where operand[d] != 1 && operand[d] != shape[d + offset] {
            return false
        }
        return true
    }

    /// Writes to `strides` (`shape.count` of them) the strides, in elements, at which an
    /// operand of shape `operand` is read for each dimension of the result `shape`: its dense
    /// row-major strides, 0 where it is broadcast (a missing dimension or a 1 against more).
    static func strides(of operand: [Int], in shape: [Int],
                        into strides: UnsafeMutablePointer<Int64>) {
        let offset = shape.count - operand.count
        var step = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            if d < offset || (operand[d - offset] == 1 && shape[d] != 1) {
                strides[d] = 0
            } else {
                strides[d] = Int64(step)
                step *= operand[d - offset]
            }
        }
    }

    /// `body` with the rank, the result's shape, and the strides of `a` and of `b` in it, as
    /// the broadcasting kernels take them (Int64, on the stack). When neither operand is
    /// broadcast, the layout is one dimension of all the elements, which the kernels walk
    /// as they would the full shape (they merge contiguous dimensions). Otherwise `shape` must
    /// have at most `maximumRank` dimensions: stops with a message naming `operation`, both
    /// shapes and the limit when it has more.
    ///
    /// (The three arrays live in a tuple of fixed size, `maximumRank` each, whose pointer
    /// `withUnsafeMutableBytes(of:)` gives: that inlines, so that `body` is no closure whose
    /// captures are retained and released around the call.)
    @inline(__always)
    static func withLayout<Result>(
        of a: [Int], _ b: [Int], in shape: [Int], operation: String,
        _ body: (_ rank: Int32, _ shape: UnsafePointer<Int64>, _ aStrides: UnsafePointer<Int64>,
                 _ bStrides: UnsafePointer<Int64>) -> Result
    ) -> Result {
        let elementwise = a == shape && b == shape
        require(elementwise || shape.count <= maximumRank,
                "\(operation): shapes \(a) and \(b) broadcast to rank \(shape.count), above the largest supported, \(maximumRank)")
        let rank = elementwise ? 1 : shape.count
        var layout = (SIMD8<Int64>(), SIMD8<Int64>(), SIMD8<Int64>())
        return withUnsafeMutableBytes(of: &layout) { bytes in
            let base = bytes.baseAddress!.assumingMemoryBound(to: Int64.self)
            let aStrides = base + maximumRank, bStrides = base + 2 * maximumRank
            if elementwise {
                base[0] = Int64(shape.reduce(1, *))
                aStrides[0] = 1
                bStrides[0] = 1
            } else {
                for d in 0..<rank { base[d] = Int64(shape[d]) }
                strides(of: a, in: shape, into: aStrides)
                strides(of: b, in: shape, into: bStrides)
            }
            return body(Int32(rank), base, aStrides, bStrides)
        }
    }
}
