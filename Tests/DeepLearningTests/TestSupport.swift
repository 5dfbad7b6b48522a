import Foundation
import XCTest
@testable import DeepLearning

/// A tensor of the given shape with values drawn uniformly from `range`.
func randomTensor(_ shape: [Int], in range: Range<Float> = -1..<1,
                  using generator: inout SeededGenerator) -> Tensor {
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, values: (0..<count).map { _ in Float.random(in: range, using: &generator) })
}

/// The test loss sum(output ⊙ weights), whose dLoss/dOutput is `weights` itself: finite
/// differences of it check a layer's backward against any output gradient.
func weightedSum(_ output: Tensor, _ weights: Tensor) -> Double {
    zip(output.values, weights.values).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// Central finite differences of `loss` with respect to each of the `count` floats at `values`.
func numericalGradient(of loss: () -> Double, at values: UnsafeMutablePointer<Float>,
                       count: Int, step: Float = 1e-2) -> [Double] {
    (0..<count).map { i in
        let original = values[i]
        values[i] = original + step
        let above = loss()
        values[i] = original - step
        let below = loss()
        values[i] = original
        return (above - below) / Double(2 * step)
    }
}

/// Asserts that `actual` and `expected` agree within `tolerance` times (1 + |expected|).
func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): counts differ", file: file, line: line)
    for (index, (a, e)) in zip(actual, expected).enumerated()
    where !(abs(Double(a) - e) <= tolerance * (1 + abs(e))) {
        XCTFail("\(what)[\(index)]: got \(a), expected \(e)", file: file, line: line)
        return
    }
}

/// Asserts that `body` throws `expected` and that its message reads `message`.
func assertThrows<T>(_ expected: DeepLearningError, message: String, _ body: () throws -> T,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssertEqual(error as? DeepLearningError, expected, file: file, line: line)
        XCTAssertEqual("\(error)", message, file: file, line: line)
    }
}

/// Limits this process's address space (`RLIMIT_AS`) to what it maps now plus `bytes`, so that
/// a larger allocation afterwards fails as on a machine out of memory. For the child process of
/// `assertStops`: the limit stays until the process ends.
func limitAddressSpace(toCurrentPlus bytes: Int) {
    // /proc/self/statm: the pages mapped first.
    let statm = try! String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
    let mapped = Int(statm.split(separator: " ")[0])! * Int(sysconf(Int32(_SC_PAGESIZE)))
    var limit = rlimit()
    precondition(getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0)
    limit.rlim_cur = rlim_t(mapped + bytes)
    precondition(setrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0)
}

extension XCTestCase {
    /// Checks that `body` stops the program with a message containing `message`, by running
    /// this very test again in a child process in which `body` is executed; the parent
    /// process only inspects the child's exit status and standard error.
    func assertStops(withMessage message: String, test: String = #function,
                     file: StaticString = #filePath, line: UInt = #line,
                     _ body: () -> Void) throws {
        let testName = String(test.prefix { $0 != "(" })
        if ProcessInfo.processInfo.environment[childMarker] == testName {
            body()
            exit(0) // reached only when body did not stop: the parent reports it
        }
        let child = try runAgainInChild(testName)
        XCTAssertNotEqual(child.status, 0, "the program did not stop", file: file, line: line)
        XCTAssertTrue(child.errors.contains(message),
                      "standard error lacks \"\(message)\":\n\(child.errors)", file: file, line: line)
    }
}

extension XCTestCase {
    /// Set, in the process `runAgainInChild` starts, to the name of the test it runs.
    var childMarker: String { "DEEPLEARNING_TESTS_CHILD" }

    /// Runs the test `testName` of this class again in a child process (the test binary),
    /// with `environment` added to this process's and `childMarker` set to `testName`, and
    /// returns the child's exit status and standard error.
    func runAgainInChild(_ testName: String, environment: [String: String] = [:]) throws
        -> (status: Int32, errors: String)
    {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["\(String(reflecting: type(of: self)))/\(testName)"]
        // No backtracer in the child: it would hold the pipe open after the child stops. The
        // child's temporary files go into a directory of the parent's, as the child may stop
        // before its own teardown could remove them.
        let childTemporaryDirectory = try makeTemporaryDirectory()
        child.environment = ProcessInfo.processInfo.environment.merging(
            environment.merging([childMarker: testName, "SWIFT_BACKTRACE": "enable=no",
                                 "TMPDIR": childTemporaryDirectory.path]) { $1 }) { $1 }
        let errorPipe = Pipe()
        child.standardError = errorPipe
        child.standardOutput = FileHandle.nullDevice
        try child.run()
        let errors = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(),
                            as: UTF8.self)
        child.waitUntilExit()
        return (child.terminationStatus, errors)
    }

    /// A new, empty directory for this test, removed with its contents when the test ends.
    func makeTemporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory
    }
}
