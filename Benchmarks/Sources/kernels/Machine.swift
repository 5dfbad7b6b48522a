import BenchmarkSupport
import CKernels
import COpenBLAS
import Foundation

/// The value of the first "key : value" line of /proc/cpuinfo with this key.
private func cpuInfo(_ key: String) -> String? {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
        return nil
    }
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
    }
    return nil
}

/// The 1, 5 and 15 minute load averages: other work on the machine shows here.
func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Prints the machine, ck's table and the peers' configuration, then measures the FMA peak of
/// every instruction set the CPU has, on 1 thread and on all of them.
func printMachine(threads: Int) {
    let processors = ProcessInfo.processInfo.activeProcessorCount
    print("CPU:       \(cpuInfo("model name") ?? "?"), \(processors) processors online "
        + "(\(cpuInfo("cpu cores") ?? "?") cores per socket), load average \(loadAverage())")
    let cpu = ck_gemm_this_cpu()
    print("ck:        ck_sgemm table \(String(cString: ck_gemm_arch_name(ck_gemm_get_arch()))) "
        + "(CPU family \(cpu.family) model \(cpu.model)\(cpu.amx_tile == 1 ? ", AMX" : "")), "
        + "\(threads) threads "
        + "(ck_get_num_threads default \(ck_get_num_threads()))")
    printPeers()

    let threadCounts = Array(Set([1, threads])).sorted()
    for (isa, name) in [(BENCH_ISA_AVX512, "AVX-512"), (BENCH_ISA_AVX2, "AVX2+FMA")]
    where bench_isa_supported(isa) != 0 {
        let rates = threadCounts.map { count in
            bench_wait_for_idle_threads(1)
            let rate = bench_fma_peak_gflops(isa, Int32(count), 0.05, 5)
            return "\(formattedShort(rate)) GFLOP/s on \(count) thread\(count > 1 ? "s" : "")"
        }
        print("FMA peak:  \(name): " + rates.joined(separator: ", ")
            + " (fp32, best of 5 runs of independent FMA chains)")
    }
}

/// CPU time used on the whole machine and by this process, to tell how much of it other
/// processes took while a case ran (another build on a 2-core machine halves a 2-thread GEMM).
struct CPUTimes {
    let machineBusy: Double  // seconds, all cores, all processes
    let ours: Double         // seconds, this process
    let wall: Double

    init() {
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
    func otherProcesses(since start: CPUTimes) -> Double {
        max(0, (machineBusy - start.machineBusy) - (ours - start.ours)) / (wall - start.wall)
    }
}
