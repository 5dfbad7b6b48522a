// Helpers shared by the kernel tests: reproducible random floats, padded row-major
// matrices, naive Double references, and comparisons that name the worst element.
import CKernels
import DeepLearning
import XCTest

/// `count` floats drawn uniformly from `range` (from 24 random bits each: plain arithmetic
/// rather than the generic `Float.random`, which is slow in debug builds).
func randomFloats(
    _ count: Int, in range: ClosedRange<Float> = -1...1, using rng: inout SeededGenerator
) -> [Float] {
    let (low, width) = (range.lowerBound, range.upperBound - range.lowerBound)
    var result = [Float](repeating: 0, count: count)
    result.withUnsafeMutableBufferPointer { r in
        for i in 0..<count { r[i] = low + width * (Float(rng.next() >> 40) * 0x1p-24) }
    }
    return result
}

/// A quiet NaN with a recognizable payload: written where a kernel must not write (padding),
/// so that a kernel which reads it into a result turns that result into NaN.
let sentinel = Float(bitPattern: 0x7FC0_BEEF)

/// A row-major rows x cols matrix with leading dimension `ld >= cols`. Storage is rows * ld
/// floats; the `ld - cols` floats after each row are padding, filled with `padding`.
struct Matrix {
    let rows: Int
    let cols: Int
    let ld: Int
    let padding: Float
    var storage: [Float]

    init(rows: Int, cols: Int, ld: Int? = nil, padding: Float = sentinel, values: [Float]) {
        precondition(values.count == rows * cols)
        self.rows = rows
        self.cols = cols
        self.ld = ld ?? cols
        self.padding = padding
        precondition(self.ld >= cols)
        storage = [Float](repeating: padding, count: rows * self.ld)
        guard cols > 0 else { return }
        let ld = self.ld
        storage.withUnsafeMutableBufferPointer { s in
            values.withUnsafeBufferPointer { v in
                for i in 0..<rows { (s.baseAddress! + i * ld).update(from: v.baseAddress! + i * cols, count: cols) }
            }
        }
    }

    static func random(
        rows: Int, cols: Int, ld: Int? = nil, in range: ClosedRange<Float> = -1...1,
        using rng: inout SeededGenerator
    ) -> Matrix {
        Matrix(rows: rows, cols: cols, ld: ld, values: randomFloats(rows * cols, in: range, using: &rng))
    }

    subscript(i: Int, j: Int) -> Float {
        get { storage[i * ld + j] }
        set { storage[i * ld + j] = newValue }
    }

    /// The elements without padding, row by row.
    var values: [Float] {
        ld == cols ? storage : (0..<rows).flatMap { i in storage[(i * ld)..<(i * ld + cols)] }
    }

    /// The transpose (cols x rows), with leading dimension `ld` (default: dense).
    func transposed(ld newLd: Int? = nil) -> Matrix {
        var t = Matrix(rows: cols, cols: rows, ld: newLd ?? rows, values: [Float](repeating: 0, count: rows * cols))
        let (ld, tld) = (self.ld, t.ld)
        storage.withUnsafeBufferPointer { s in
            t.storage.withUnsafeMutableBufferPointer { d in
                for i in 0..<rows {
                    for j in 0..<cols { d[j * tld + i] = s[i * ld + j] }
                }
            }
        }
        return t
    }

    /// The same elements stored with another leading dimension.
    func withLeadingDimension(_ newLd: Int) -> Matrix {
        Matrix(rows: rows, cols: cols, ld: newLd, padding: padding, values: values)
    }

    /// The first padding float whose bits have changed, as (row, column), or nil.
    var firstChangedPadding: (row: Int, col: Int)? {
        for i in 0..<rows {
            for j in cols..<ld where !storage[i * ld + j].hasSameBits(as: padding) { return (i, j) }
        }
        return nil
    }
}

/// C = alpha * A * B + beta * C in Double, for logical (already transposed) A (m x k) and
/// B (k x n). Also returns, per element, the bound `bound[i][j]` on the float rounding error
/// that a correct kernel may make: 4 (k + 2) eps (|alpha| sum_p |a_ip b_pj| + |beta c_ij|).
func referenceGEMM(alpha: Float, a: Matrix, b: Matrix, beta: Float, c: Matrix)
    -> (values: [Double], bounds: [Double])
{
    let (m, n, k) = (a.rows, b.cols, a.cols)
    precondition(b.rows == k && c.rows == m && c.cols == n)
    let av = a.values.map(Double.init), bv = b.values.map(Double.init), cv = c.values
    let eps = Double(Float.ulpOfOne), factor = 4 * Double(k + 2) * eps
    var values = [Double](repeating: 0, count: m * n), bounds = values
    av.withUnsafeBufferPointer { av in
        bv.withUnsafeBufferPointer { bv in
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0..<k {
                        let term = av[i * k + p] * bv[p * n + j]
                        sum += term
                        magnitude += abs(term)
                    }
                    // beta == 0 means C is not read (it may hold NaN).
                    let scaledC = beta == 0 ? 0 : Double(beta) * Double(cv[i * n + j])
                    values[i * n + j] = Double(alpha) * sum + scaledC
                    bounds[i * n + j] = factor * (abs(Double(alpha)) * magnitude + abs(scaledC))
                }
            }
        }
    }
    return (values, bounds)
}

/// Asserts |got[i] - expected[i]| <= tolerance[i] + tiny for every i (NaN fails), and on
/// failure names the worst element relative to its tolerance.
func assertClose(
    _ got: [Float], _ expected: [Double], tolerance: [Double], _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(got.count, expected.count, "count " + message(), file: file, line: line)
    XCTAssertEqual(tolerance.count, expected.count, "tolerance count " + message(), file: file, line: line)
    let tiny = Double(Float.leastNormalMagnitude)
    var worst: (index: Int, ratio: Double)? = nil
    var failures = 0
    for i in 0..<min(got.count, expected.count) {
        let error = abs(Double(got[i]) - expected[i])
        let allowed = tolerance[i] + tiny
        let ratio = error.isNaN ? .infinity : error / allowed
        if !(error <= allowed) {
            failures += 1
            if worst == nil || ratio > worst!.ratio { worst = (i, ratio) }
        }
    }
    if let worst {
        let i = worst.index
        XCTFail(
            "\(failures) of \(got.count) elements out of tolerance; worst at index \(i): got \(got[i]), "
                + "expected \(expected[i]), |error| \(abs(Double(got[i]) - expected[i])), "
                + "tolerance \(tolerance[i]). \(message())",
            file: file, line: line)
    }
}

/// `assertClose` with one tolerance for every element.
func assertClose(
    _ got: [Float], _ expected: [Double], tolerance: Double, _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    assertClose(
        got, expected, tolerance: [Double](repeating: tolerance, count: expected.count), message(),
        file: file, line: line)
}

/// Values compared bit for bit: NaN equals the same NaN, and -0 differs from +0.
protocol BitwiseComparable {
    func hasSameBits(as other: Self) -> Bool
}

extension Float: BitwiseComparable {
    func hasSameBits(as other: Float) -> Bool { bitPattern == other.bitPattern }
}

extension Double: BitwiseComparable {
    func hasSameBits(as other: Double) -> Bool { bitPattern == other.bitPattern }
}

extension Int32: BitwiseComparable {
    func hasSameBits(as other: Int32) -> Bool { self == other }
}

/// Asserts the two arrays have the same bits element by element, naming the first difference.
func assertBitwiseEqual<T: BitwiseComparable>(
    _ got: [T], _ expected: [T], _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    assertElementsMatch(got, expected, by: { $0.hasSameBits(as: $1) }, message(), file: file, line: line)
}

/// `values` with every NaN made the one quiet NaN `Float.nan`: compared bit for bit, any two
/// NaNs are then equal and a NaN still differs from every number. For results that arithmetic
/// makes NaN, whose sign and payload IEEE 754 and LLVM leave open (the compiler may order or
/// negate operands otherwise in another clone, on an aliased output or in a loop's tail).
func withCanonicalNaNs(_ values: [Float]) -> [Float] {
    values.map { $0.isNaN ? .nan : $0 }
}

/// Asserts equal values element by element, where any NaN equals any NaN and -0 equals +0
/// (for results whose NaN payload or sign of zero the contract leaves open).
func assertEqualValues(
    _ got: [Float], _ expected: [Float], _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    assertElementsMatch(
        got, expected, by: { $0 == $1 || ($0.isNaN && $1.isNaN) }, message(), file: file, line: line)
}

private func assertElementsMatch<T>(
    _ got: [T], _ expected: [T], by matches: (T, T) -> Bool, _ message: @autoclosure () -> String,
    file: StaticString, line: UInt
) {
    XCTAssertEqual(got.count, expected.count, "count " + message(), file: file, line: line)
    let differing = (0..<min(got.count, expected.count)).filter { !matches(got[$0], expected[$0]) }
    if let i = differing.first {
        XCTFail(
            "\(differing.count) of \(got.count) elements differ; first at index \(i): got \(got[i]), "
                + "expected \(expected[i]). " + message(),
            file: file, line: line)
    }
}

/// Runs `body` with the kernels limited to `threads` threads, then restores the default.
func withThreads<R>(_ threads: Int32, _ body: () throws -> R) rethrows -> R {
    ck_set_num_threads(threads)
    defer { ck_set_num_threads(0) }
    return try body()
}

/// Runs `body` with each thread count in turn (the default: 1, then 2), asserts every result
/// is bitwise equal to the first, and returns the first. The work must be large enough for
/// the kernel to open a parallel region.
@discardableResult
func assertSameResultForThreadCounts<T: BitwiseComparable>(
    _ counts: [Int32] = [1, 2], _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line, _ body: () -> [T]
) -> [T] {
    let first = withThreads(counts[0], body)
    for count in counts.dropFirst() {
        let result = withThreads(count) { () -> [T] in
            XCTAssertEqual(ck_get_num_threads(), count, file: file, line: line)
            return body()
        }
        assertBitwiseEqual(result, first, "\(count) threads vs \(counts[0]). " + message(), file: file, line: line)
    }
    return first
}

/// `kernel(rows, classes, x, out)` (ck_softmax, ck_log_softmax) over the rows of `classes`
/// elements of x, out a fresh array, or x itself when in place.
func rowNormalization(
    _ kernel: (Int64, Int64, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void,
    _ x: [Float], classes: Int, inPlace: Bool = false
) -> [Float] {
    let rows = Int64(x.count / classes)
    if inPlace {
        var y = x
        y.withUnsafeMutableBufferPointer { kernel(rows, Int64(classes), $0.baseAddress, $0.baseAddress) }
        return y
    }
    var y = [Float](repeating: sentinel, count: x.count)
    y.withUnsafeMutableBufferPointer { kernel(rows, Int64(classes), x, $0.baseAddress) }
    return y
}

/// The partial sums of `terms` in the kernels' order (CKernels/sum_lanes.h): term j of the
/// full blocks of 16 to lane j % 16, the terms past them to one more sum in order (all from
/// -0.0); then start plus the lanes folded (lane k + lane k + 8, k + 4, k + 2, k + 1), plus
/// that sum.
func laneTotal(_ terms: [Double], start: Double = 0) -> Double {
    var lane = [Double](repeating: -0.0, count: 16), rest = -0.0
    let blocked = terms.count / 16 * 16
    for (j, t) in terms.enumerated() {
        if j < blocked { lane[j % 16] += t } else { rest += t }
    }
    var half = 8
    while half >= 1 {
        for k in 0..<half { lane[k] += lane[k + half] }
        half /= 2
    }
    return (start + lane[0]) + rest
}
