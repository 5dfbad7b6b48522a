import BenchmarkMachine
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
