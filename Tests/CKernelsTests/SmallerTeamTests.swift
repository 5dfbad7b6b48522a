// The kernels plan each parallel product for the threads they ask OpenMP for, and then split the
// work among the team the runtime gives them, which may be smaller: under OMP_THREAD_LIMIT, or
// when called from inside another parallel region with nesting off. The GEMM's packed route
// then lays its work out for the smaller team, which can take other paths than the plan's (own
// slivers where the plan shares B~; with a parameter update, the update after the stored tiles
// rather than in row panels). The thread-count tests run again in a child process in which
// every team has one thread, so that each "2 threads" and "3 threads" there is planned for 2
// or 3 and computed by 1, and must still give the bits of 1 thread.
import CKernels
import Foundation
import XCTest

final class SmallerTeamTests: XCTestCase {
    /// The kernel tests that compare thread counts bit for bit, and the parameter updates'
    /// test on every route (whose products with B~ shared take the step after the stored
    /// tiles on a team of one).
    private static let threadCountTests = [
        "\(String(reflecting: GEMMTests.self))/testThreadCountDoesNotChangeTheBits",
        "\(String(reflecting: GEMMEpilogueTests.self))/testThreadCountDoesNotChangeTheBits",
        "\(String(reflecting: GEMMParameterUpdateTests.self))/testThreadCountDoesNotChangeTheBits",
        "\(String(reflecting: GEMMParameterUpdateTests.self))/testUpdateEqualsGEMMThenOptimizerOnEveryRoute",
        "\(String(reflecting: GEMMOwnSliversTests.self))/testOneBlockProductsWithCOnCacheLinesMatchReferenceOnAnyThreadCount",
        "\(String(reflecting: GEMMOwnSliversTests.self))/testOwnSliversInGroupsMatchReferenceOnAnyThreadCount",
        "\(String(reflecting: ConvolutionTests.self))/testResultsDoNotDependOnThreadCount",
        "\(String(reflecting: BroadcastKernelTests.self))/testResultsAreIndependentOfTheThreadCount",
        "\(String(reflecting: BatchNormKernelTests.self))/testSameBitsForOneAndTwoThreads",
        "\(String(reflecting: LossTests.self))/testLossIsIndependentOfThreadCount",
        "\(String(reflecting: ActivationTests.self))/testLargeActivationsAreIndependentOfTheThreadCount",
        "\(String(reflecting: GraphKernelTests.self))/testResultsAreIndependentOfTheThreadCount",
        "\(String(reflecting: PenaltyKernelTests.self))/testPenaltyMatchesReferenceAndIsIndependentOfTheThreadCount",
    ]

    func testThreadCountTestsPassWhenEveryTeamHasOneThread() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = [Self.threadCountTests.joined(separator: ",")]
        // KMP_WARNINGS=0: libomp would warn at every team it cannot form.
        child.environment = ProcessInfo.processInfo.environment.merging(
            ["OMP_THREAD_LIMIT": "1", "KMP_WARNINGS": "0", "SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let output = Pipe()
        child.standardOutput = output
        child.standardError = output
        try child.run()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let failures = log.split(separator: "\n").filter { $0.contains(" error: ") }
        XCTAssertEqual(child.terminationStatus, 0, "the tests failed with teams of one thread; the first "
                       + "failures:\n" + failures.prefix(20).joined(separator: "\n"))
        XCTAssertTrue(log.contains("Executed \(Self.threadCountTests.count) tests, with 0 failures"),
                      "not every test ran; the child's counts:\n"
                          + log.split(separator: "\n").filter { $0.contains("Executed") }.joined(separator: "\n"))
    }
}
