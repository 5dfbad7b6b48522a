import Foundation
import XCTest

/// Launches `distributed-checks` on 2 ranks with mpirun (one thread each; the summation order
/// on 3) and checks the guarantees of data-parallel training: bitwise-identical parameters on
/// every rank, the losses of one process training on the global batch (the spiral network
/// with SGD, by `fit` and by a loop of graph operations; the digits CNN with Adam; a
/// regression network towards targets), runs reproducible bit for bit, and every fault
/// stopping every rank with its message and a non-zero exit; and the `mpi-train` example's
/// digits options.
final class DistributedTests: XCTestCase {
    /// What a launch printed (stdout and stderr) and its exit status.
    struct Launch {
        let output: String
        let status: Int32
        /// The loss of each step, from the "step N BITS" lines.
        var stepLosses: [Float] {
            output.split(separator: "\n").compactMap { line in
                let fields = line.split(separator: " ")
                guard fields.count == 3, fields[0] == "step", let bits = UInt32(fields[2])
                else { return nil }
                return Float(bitPattern: bits)
            }
        }
        /// The hashes the ranks printed.
        var hashes: [Substring] {
            output.split(separator: "\n").filter { $0.hasPrefix("hash ") }
        }
    }

    /// The built product `name` (distributed-checks and mpi-train are built beside the tests).
    func executable(_ name: String) -> String {
        Bundle.main.bundleURL.appendingPathComponent(name).path
    }

    /// Runs `program scenario arguments` (by default `distributed-checks`) on `ranks` ranks
    /// under mpirun (or alone, for 0), stopped after two minutes so that a hang fails instead
    /// of blocking CI. `rankOptions` replaces `-np ranks` by mpirun's options and program of
    /// each rank (MPMD, `:` between).
    func launch(_ scenario: String, _ arguments: [String] = [], ranks: Int,
                rankOptions: [[String]]? = nil, program: String = "distributed-checks")
        throws -> Launch
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        let command = [executable(program), scenario] + arguments
        let programs = (rankOptions ?? [["-np", "\(ranks)"]]).map { $0 + command }
        process.arguments = ["120"] + (ranks == 0 ? command
            : ["mpirun", "--allow-run-as-root", "--oversubscribe", "-x", "OMP_NUM_THREADS=1"]
                + programs.joined(separator: [":"]))
        var environment = ProcessInfo.processInfo.environment
        environment["OMP_NUM_THREADS"] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Launch(output: String(decoding: data, as: UTF8.self),
                      status: process.terminationStatus)
    }

    /// Checks that `run` printed `steps` losses, each within 1e-5 relative of `reference`'s.
    func checkLosses(of run: Launch, match reference: Launch, steps: Int,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, 0, run.output, file: file, line: line)
        XCTAssertEqual(reference.stepLosses.count, steps, reference.output, file: file, line: line)
        XCTAssertEqual(run.stepLosses.count, steps, run.output, file: file, line: line)
        for (step, (mine, expected)) in zip(run.stepLosses, reference.stepLosses).enumerated() {
            XCTAssertLessThanOrEqual(abs(mine - expected), 1e-5 * abs(expected),
                                     "step \(step + 1): \(mine) on 2 ranks, \(expected) alone",
                                     file: file, line: line)
        }
        XCTAssertEqual(run.hashes.count, 2, run.output, file: file, line: line)
        XCTAssertEqual(Set(run.hashes).count, 1, "the ranks' parameters differ", file: file,
                       line: line)
    }

    func testFitOnTwoRanksMatchesOneProcessAndIsIdenticalOnEveryRank() throws {
        let first = try launch("fit", ranks: 2)
        checkLosses(of: first, match: try launch("reference", ranks: 0), steps: 105)
        let second = try launch("fit", ranks: 2)
        XCTAssertEqual(first.stepLosses, second.stepLosses, "two runs differ")
        XCTAssertEqual(first.hashes, second.hashes, "two runs differ")
    }

    func testHandWrittenGraphLoopOnTwoRanksMatchesOneProcess() throws {
        checkLosses(of: try launch("graph", ranks: 2), match: try launch("reference", ranks: 0),
                    steps: 105)
    }

    func testDigitsCNNWithAdamOnTwoRanksMatchesOneProcess() throws {
        checkLosses(of: try launch("fit-cnn", ranks: 2),
                    match: try launch("reference-cnn", ranks: 0), steps: 50)
    }

    func testScheduleAndPenaltiesOnTwoRanksMatchOneProcess() throws {
        checkLosses(of: try launch("fit-extras", ranks: 2),
                    match: try launch("reference-extras", ranks: 0), steps: 105)
    }

    /// Checks that `scenario` on `ranks` ranks ends with status 0 and that each rank R printed
    /// "rank R: `text`".
    func checkEveryRank(of scenario: String, ranks: Int = 2, printed text: String,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try launch(scenario, ranks: ranks)
        XCTAssertEqual(run.status, 0, run.output, file: file, line: line)
        for rank in 0..<ranks {
            XCTAssertTrue(run.output.contains("rank \(rank): \(text)"), run.output, file: file,
                          line: line)
        }
    }

    func testGradientsAreSummedInRankOrderInPlaceAndInFlatBuckets() throws {
        try checkEveryRank(of: "sum-order", ranks: 3, printed: "0 sums wrong")
    }

    func testParametersNoRankReachedKeepNoGradientAndAreLeftOutOfTheStep() throws {
        try checkEveryRank(of: "unreached",
                           printed: "unreached unchanged: true, reached changed: true")
    }

    func testFitTowardsTargetsOnTwoRanksMatchesOneProcess() throws {
        checkLosses(of: try launch("fit-targets", ranks: 2),
                    match: try launch("reference-targets", ranks: 0), steps: 105)
    }

    /// A new temporary directory named from `prefix`, holding the new directories `names`:
    /// the directory (to remove) and their paths.
    func temporaryDirectories(_ prefix: String, _ names: [String]) throws
        -> (directory: URL, paths: [String])
    {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        let paths = names.map { directory.appendingPathComponent($0).path }
        for path in paths {
            try FileManager.default.createDirectory(atPath: path,
                                                    withIntermediateDirectories: true)
        }
        return (directory, paths)
    }

    func testResumingOnTwoRanksContinuesBitForBit() throws {
        let (directory, paths) = try temporaryDirectories("distributed-resume",
                                                          ["whole", "parts"])
        defer { try? FileManager.default.removeItem(at: directory) }
        let (whole, parts) = (paths[0], paths[1])
        let uninterrupted = try launch("resume", [whole, "7"], ranks: 2)
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.output)
        XCTAssertEqual(uninterrupted.stepLosses.count, 105, uninterrupted.output)
        let first = try launch("resume", [parts, "4"], ranks: 2)
        XCTAssertEqual(first.status, 0, first.output)
        let resumed = try launch("resume", [parts, "7", "resume"], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertEqual(first.stepLosses + resumed.stepLosses, uninterrupted.stepLosses,
                       "the resumed run's losses differ")
        XCTAssertEqual(resumed.hashes, uninterrupted.hashes, resumed.output)
        XCTAssertEqual(Set(resumed.hashes).count, 1, "the ranks' parameters differ")
    }

    func testBatchNormTakesRankZerosParametersAndRunningStatistics() throws {
        let run = try launch("fit-batchnorm", ranks: 2)
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertEqual(run.hashes.count, 2, run.output)
        XCTAssertEqual(Set(run.hashes).count, 1, "the ranks' parameters or statistics differ")
    }

    func testAfterANaNLossOnOneRankEveryRankKeepsTheSameModelAndStepCount() throws {
        let run = try launch("nan-batchnorm", ranks: 2)
        XCTAssertEqual(run.status, 0, run.output)
        for rank in 0..<2 {
            XCTAssertTrue(run.output.contains("rank \(rank): fit stopped: rank 1: the loss became "
                                              + "NaN in epoch 1, batch 5"), run.output)
            // The count of the 4 steps taken: the failed step's forward pass is put back.
            XCTAssertTrue(run.output.contains("rank \(rank): batches tracked after the fault: 4"),
                          run.output)
            // 4 steps taken, then an epoch of 15.
            XCTAssertTrue(run.output.contains("rank \(rank): steps after the fault: 5 to 19"),
                          run.output)
        }
        XCTAssertEqual(run.hashes.count, 2, run.output)
        XCTAssertEqual(Set(run.hashes).count, 1, "the ranks' parameters or statistics differ")
    }

    func testNestedBatchNormsTakeRankZerosStatisticsAndCountsAndTheHashCoversThem() throws {
        let run = try launch("fit-nested-batchnorm", ranks: 2)
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertEqual(run.hashes.count, 2, run.output)
        XCTAssertEqual(Set(run.hashes).count, 1, "the ranks' parameters or statistics differ")
        let statistics = run.output.split(separator: "\n").filter { $0.hasPrefix("statistics ") }
        XCTAssertEqual(statistics.count, 2, run.output)
        XCTAssertEqual(Set(statistics).count, 1, "the ranks' nested statistics differ")
        for change in ["count", "statistic"] {
            XCTAssertEqual(run.output.components(separatedBy: "changed \(change) caught: true")
                               .count - 1, 2, run.output)
        }
    }

    func testTheWorldReportsRanksOnDifferentGEMMPaths() throws {
        let mixed = try launch("cpu-kinds", ranks: 2,
                               rankOptions: [["-np", "1", "-x", "CK_GEMM_PATH=portable"],
                                             ["-np", "1"]])
        XCTAssertEqual(mixed.status, 0, mixed.output)
        XCTAssertTrue(mixed.output.contains("rank 0: portable, rank 1: "), mixed.output)
        XCTAssertTrue(mixed.output.contains("mixed: true"), mixed.output)
        let same = try launch("cpu-kinds", ranks: 2)
        XCTAssertTrue(same.output.contains("mixed: false"), same.output)
    }

    /// Checks that `scenario` ends with a non-zero status and, when `message` is given, that
    /// both ranks stopped with it; returns the launch.
    @discardableResult
    func checkFault(_ scenario: String, message: String?) throws -> Launch {
        let run = try launch(scenario, ranks: 2)
        XCTAssertNotEqual(run.status, 0, run.output)
        XCTAssertNotEqual(run.status, 124, "\(scenario) hung: \(run.output)")
        if let message {
            for rank in 0..<2 {
                XCTAssertTrue(run.output.contains("rank \(rank) stopped: \(message)"),
                              "rank \(rank) did not stop with \"\(message)\": \(run.output)")
            }
        }
        return run
    }

    func testRanksWhoseModelsDifferStopAtStart() throws {
        try checkFault("mismatch", message: "rank 1: its model differs from rank 0's: "
                       + "layer 0 Linear(2 → 50) weight [2, 50], rank 0 has layer 0 "
                       + "Linear(2 → 100) weight [2, 100]")
    }

    func testRanksWhoseNestedLayersDifferStopAtStartNamingTheNestedLayer() throws {
        try checkFault("nested-mismatch", message: "rank 1: its model differs from rank 0's: "
                       + "layer 1.linear Linear(16 → 16) weight [16, 16], rank 0 has layer "
                       + "1.0 BatchNorm(16) weight [16]")
    }

    func testRanksWhoseDataSetsDifferStopAtStart() throws {
        try checkFault("size-mismatch", message: "rank 1: its data set holds 280 samples, "
                       + "rank 0's 300")
    }

    func testARankWhoseInputsAndLabelsDifferInCountStopsEveryRank() throws {
        try checkFault("count-mismatch", message: "rank 1: the inputs have 300 samples but "
                       + "there are 299 labels")
    }

    func testAccuracyWithInputsAndLabelsDifferingInCountOnOneRankStopsEveryRank() throws {
        try checkFault("accuracy-mismatch", message: "rank 1: the inputs have 150 samples but "
                       + "there are 149 labels")
    }

    func testAModelWithoutParametersIsDataParallelAndAnAccuracyOfNoSamplesThrows() throws {
        try checkEveryRank(of: "no-parameters", printed: "made; accuracy without samples: "
                           + "failure(the data set is empty")
    }

    func testABadLabelInOneShardStopsEveryRank() throws {
        try checkFault("bad-label", message: "rank 1: label 7")
    }

    func testANaNLossOnOneRankStopsEveryRank() throws {
        try checkFault("nan-loss", message: "rank 1: the loss became NaN in epoch 1, batch 5")
    }

    func testAStepHookThrowingOnOneRankStopsEveryRank() throws {
        try checkFault("step-hook", message: "rank 1: the step hook failed")
    }

    func testAFailedSaveOnRankZeroStopsEveryRank() throws {
        try checkFault("failed-save", message: "rank 0: ")
    }

    func testRanksTakingDifferentNumbersOfStepsStopInsteadOfWaiting() throws {
        try checkFault("extra-step", message: "rank 1: it takes step 4 while rank 0 has "
                       + "finished run after 3 steps: every rank must take the same steps")
    }

    func testALastGlobalBatchSmallerThanTheRankCountStopsNamingIt() throws {
        try checkFault("short-last-batch", message: "rank 1: it has 1 steps per epoch (10 "
                       + "samples in batches of 10), rank 0 has 2 (11 samples): every rank must "
                       + "take the same steps; the last global batch holds 1 of the 21 samples, "
                       + "fewer than the 2 ranks")
    }

    /// Ranks that cut the data their own way take different steps for a reason of their own:
    /// the message does not blame the last global batch, which is whole.
    func testStepsThatDifferForAnotherReasonDoNotBlameTheLastGlobalBatch() throws {
        let run = try checkFault("own-shards", message: "rank 1: it has 1 steps per epoch (10 "
                                 + "samples in batches of 10), rank 0 has 3 (30 samples): every "
                                 + "rank must take the same steps")
        XCTAssertFalse(run.output.contains("last global batch"), run.output)
    }

    /// With `dropLast`, a shard smaller than a rank's batch is one batch of the whole shard,
    /// as `MiniBatchLoader` takes it: the ranks agree on one step an epoch and train.
    func testAShardSmallerThanTheBatchIsOneStepWithDropLast() throws {
        let run = try launch("small-shard", ranks: 2)
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("step 7 "), run.output) // 7 epochs
        XCTAssertFalse(run.output.contains("step 8 "), run.output)
        XCTAssertEqual(run.hashes.count, 2, run.output)
        XCTAssertEqual(Set(run.hashes).count, 1, "the ranks' parameters differ")
    }

    func testRanksWhoseDistributedOptimizersUpdateOtherParametersStop() throws {
        try checkFault("optimizer-order", message: "rank 1: its DistributedOptimizer differs "
                       + "from rank 0's: parameters 1 0, rank 0 has parameters 0 1")
        try checkFault("optimizer-subset", message: "rank 1: its DistributedOptimizer differs "
                       + "from rank 0's: parameters 0, rank 0 has parameters 0 1")
        try checkFault("optimizer-plain", message: "rank 1: its DistributedOptimizer differs "
                       + "from rank 0's: none made, rank 0 has parameters 0 1")
    }

    /// Ranks whose buckets differ would exchange gradients of different lengths: they stop
    /// at the first step's agreement, before any exchange.
    func testRanksWhoseBucketsDifferStopNamingTheSettings() throws {
        try checkFault("bucket-mismatch", message: "rank 1: it combines gradients with "
                       + "bucketSize 2, inPlaceMinimum 65536, rank 0 with bucketSize 1048576, "
                       + "inPlaceMinimum 65536: every rank must use the same")
        try checkFault("in-place-mismatch", message: "rank 1: it combines gradients with "
                       + "bucketSize 1048576, inPlaceMinimum 3, rank 0 with bucketSize 1048576, "
                       + "inPlaceMinimum 65536: every rank must use the same")
        // Int.max, agreed as a Double (2^63), which no Int holds: named, not a trap.
        try checkFault("bucket-max-mismatch", message: "rank 1: it combines gradients with "
                       + "bucketSize 9.223372036854776e+18, inPlaceMinimum 65536, rank 0 with "
                       + "bucketSize 1048576, inPlaceMinimum 65536: every rank must use the same")
    }

    func testAnErrorBetweenTheAgreementAndTheStepEndsTheJobNamingIt() throws {
        let run = try checkFault("throw-after-synchronize", message: nil)
        XCTAssertTrue(run.output.contains("rank 1: the step hook failed, thrown after "
                                          + "synchronize(loss:samples:) and before the step"),
                      run.output)
    }

    func testAnErrorBetweenTheAgreementAndTheStepOnOneRankIsThrown() throws {
        // No other rank waits in the exchange: the error reaches the caller, who prints it.
        let run = try launch("throw-after-synchronize", ranks: 1)
        XCTAssertEqual(run.status, 1, run.output)
        XCTAssertTrue(run.output.contains("rank 0 stopped: rank 0: the step hook failed"),
                      run.output)
    }

    func testRanksWhoseFitSettingsDifferStopAtStart() throws {
        try checkFault("epochs-mismatch", message: "rank 1: its training differs from rank 0's: "
                       + "6 epochs, rank 0 has 7 epochs")
        try checkFault("batch-mismatch", message: "rank 1: its training differs from rank 0's: "
                       + "global batch 22, rank 0 has global batch 20")
        try checkFault("optimizer-mismatch", message: "rank 1: its training differs from rank "
                       + "0's: optimizer's parameters 0 1 2, rank 0 has optimizer's parameters "
                       + "0 1 2 3")
    }

    func testFitGivenADistributedOptimizerStopsSayingWhy() throws {
        let run = try checkFault("distributed-optimizer-fit", message: nil)
        XCTAssertTrue(run.output.contains("DataParallel.fit: its optimizer is a "
                                          + "DistributedOptimizer, whose step would combine the "
                                          + "gradients that fit combines itself: pass the SGD "
                                          + "it wraps"), run.output)
    }

    func testAShardOfAGlobalBatchBelowOneStopsNamingIt() throws {
        let run = try checkFault("negative-global-batch", message: nil)
        XCTAssertTrue(run.output.contains("DataParallel.shard: global batch -20 must be at "
                                          + "least 1"), run.output)
    }

    func testABucketSizeBelowOneStopsNamingIt() throws {
        let run = try checkFault("zero-bucket", message: nil)
        XCTAssertTrue(run.output.contains("DataParallel: bucketSize 0 must be at least 1"),
                      run.output)
    }

    func testACrashedRankEndsTheJobWithAnError() throws {
        try checkFault("crash", message: nil)
    }

    /// The "test accuracy" line `mpi-train digits` printed.
    func testAccuracy(_ run: Launch) -> Substring? {
        run.output.split(separator: "\n").first { $0.hasPrefix("test accuracy ") }
    }

    func testMPITrainTakesTheRangesOfTheSingleProcessExamples() throws {
        for experiment in ["spiral", "digits"] {
            let refused = try launch(experiment, ["--learning-rate", "0"], ranks: 1,
                                     program: "mpi-train")
            XCTAssertEqual(refused.status, 2, refused.output)
            XCTAssertTrue(refused.output.contains("--learning-rate must be a positive number, "
                                                  + "got 0.0"), refused.output)
        }
        // Momentum above 1 and weight decay above 1000, which `spiral` takes too.
        let accepted = try launch("spiral", ["--momentum", "1.5", "--weight-decay", "1001",
                                             "--learning-rate", "1e-7", "--epochs", "1"],
                                  ranks: 1, program: "mpi-train")
        XCTAssertEqual(accepted.status, 0, accepted.output)
    }

    func testMPITrainSavesOnRankZeroAndLoadsTheResidualDigitsNetwork() throws {
        // Each rank in a working directory of its own, so that a relative --save path shows
        // which ranks wrote it.
        let (directory, paths) = try temporaryDirectories("distributed-save", ["rank0", "rank1"])
        defer { try? FileManager.default.removeItem(at: directory) }
        let (first, second) = (paths[0], paths[1])
        let trained = try launch("digits", ["--model", "residual", "--epochs", "1",
                                            "--save", "model.safetensors"],
                                 ranks: 2, rankOptions: [["-np", "1", "-wdir", first],
                                                         ["-np", "1", "-wdir", second]],
                                 program: "mpi-train")
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains("Training Conv2D(1 → 16, 3) → BatchNorm"),
                      trained.output)
        let saved = first + "/model.safetensors"
        XCTAssertTrue(FileManager.default.fileExists(atPath: saved), trained.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: second + "/model.safetensors"),
                       "rank 1 wrote the model")
        let loaded = try launch("digits", ["--model", "residual", "--load", saved], ranks: 2,
                                program: "mpi-train")
        XCTAssertEqual(loaded.status, 0, loaded.output)
        XCTAssertTrue(loaded.output.contains("model loaded from \(saved)"), loaded.output)
        XCTAssertNotNil(testAccuracy(trained), trained.output)
        XCTAssertEqual(testAccuracy(loaded), testAccuracy(trained), loaded.output)
        let both = try launch("digits", ["--save", saved, "--load", saved], ranks: 2,
                              program: "mpi-train")
        XCTAssertEqual(both.status, 2, both.output)
        XCTAssertTrue(both.output.contains("--save and --load exclude each other"), both.output)
    }
}
