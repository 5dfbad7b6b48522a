import Foundation

/// Seconds on CLOCK_MONOTONIC, from an arbitrary start.
public func now() -> Double { seconds(on: CLOCK_MONOTONIC) }

/// The seconds `body` takes: this thread's CPU time when `threadCPUTime` (a clock that leaves
/// out the time other processes held the core; for work on this thread alone), the wall clock
/// otherwise.
public func seconds(threadCPUTime: Bool, of body: () throws -> Void) rethrows -> Double {
    let clock = threadCPUTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
    let start = seconds(on: clock)
    try body()
    return seconds(on: clock) - start
}

private func seconds(on clock: clockid_t) -> Double {
    var time = timespec()
    clock_gettime(clock, &time)
    return Double(time.tv_sec) + 1e-9 * Double(time.tv_nsec)
}

/// The 1, 5 and 15 minute load averages: other work on the machine shows here.
public func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// CPU time used on the whole machine and by this process, to tell how much of it other
/// processes took while a case ran (another build on a 2-core machine halves a 2-thread GEMM).
public struct CPUTimes {
    let machineBusy: Double  // seconds, all cores, all processes
    let ours: Double         // seconds, this process
    let wall: Double

    /// The times now.
    public init() {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // /proc/stat "cpu  user nice system idle iowait irq softirq steal ...".
        let stat = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
        let cpu = stat.split(separator: "\n").first?.split(separator: " ").dropFirst()
            .compactMap { Double($0) } ?? []
        let busy = cpu.count >= 8 ? cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7] : 0
        machineBusy = busy / ticks
        // /proc/self/stat: utime and stime are fields 14 and 15, counted after the ")" that
        // ends the command name (field 2).
        let own = (try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)) ?? ""
        let fields = own.split(separator: ")").last?.split(separator: " ") ?? []
        ours = fields.count > 13 ? (Double(fields[11])! + Double(fields[12])!) / ticks : 0
        wall = now()
    }

    /// Cores kept busy by other processes since `start`, on average: 0 on an idle machine.
    public func otherProcesses(since start: CPUTimes) -> Double {
        max(0, (machineBusy - start.machineBusy) - (ours - start.ours)) / (wall - start.wall)
    }
}
