import BenchmarkMachine
import BenchmarkSupport
import Glibc

/// How each contender is timed.
struct TimingPlan {
    /// Rounds of the round robin: each contender gets one timed block per round.
    var rounds: Int
    /// How long one timed block of back-to-back calls should last, in seconds.
    var blockSeconds: Double
    /// The longest wait for other threads (OpenMP, OpenBLAS workers) to stop spinning.
    var maxIdleWait = 1.0
}

/// Something timed: a name and the call.
struct Contender {
    let name: String
    let call: () -> Void
}

/// Seconds per call of one contender: one value per round, each the mean of one block.
struct Timing {
    let perRound: [Double]  // sorted

    init(_ seconds: [Double]) { perRound = seconds.sorted() }

    var median: Double {
        let middle = perRound.count / 2
        return perRound.count % 2 == 1
            ? perRound[middle] : (perRound[middle - 1] + perRound[middle]) / 2
    }
    var fastest: Double { perRound.first! }
    var slowest: Double { perRound.last! }
}

/// Seconds for `repetitions` back-to-back calls.
private func timeBlock(_ call: () -> Void, repetitions: Int) -> Double {
    let start = now()
    for _ in 0..<repetitions { call() }
    return now() - start
}

/// Calls per block so that a block lasts about `seconds` (at least one call).
private func repetitions(of call: () -> Void, forSeconds seconds: Double) -> Int {
    var repetitions = 1
    while true {
        let elapsed = timeBlock(call, repetitions: repetitions)
        if elapsed >= seconds / 4 || repetitions >= 1 << 30 {
            return max(1, Int((Double(repetitions) * seconds / elapsed).rounded(.up)))
        }
        repetitions *= 4
    }
}

/// Times the contenders alternately, in the same conditions: a warm-up call and a calibration
/// for each, then `plan.rounds` rounds in which each contender runs one block (the first of a
/// round rotates, so no one always follows the same one). Before every block, waits until no
/// other thread of the process spins, so one library's idle workers do not steal the core
/// of the next. Returns one Timing per contender, in order.
func measureAlternately(_ contenders: [Contender], plan: TimingPlan) -> [Timing] {
    let blockSizes = contenders.map { contender in
        bench_wait_for_idle_threads(plan.maxIdleWait)
        contender.call()
        return repetitions(of: contender.call, forSeconds: plan.blockSeconds)
    }
    var seconds = [[Double]](repeating: [], count: contenders.count)
    for round in 0..<plan.rounds {
        for turn in contenders.indices {
            let i = (round + turn) % contenders.count
            bench_wait_for_idle_threads(plan.maxIdleWait)
            let elapsed = timeBlock(contenders[i].call, repetitions: blockSizes[i])
            seconds[i].append(elapsed / Double(blockSizes[i]))
        }
    }
    return seconds.map(Timing.init)
}
