import BenchmarkSupport
import COpenBLAS
import Foundation

/// OpenBLAS's kernels by the newest instruction set they use; a core name not listed counts
/// as older than all of them (Prescott, Core2, Nehalem, ...: SSE only).
private let openBLASCoreLevels: [String: Int] = [
    "sandybridge": 1, "bulldozer": 1, "piledriver": 1, "steamroller": 1, "excavator": 1,
    "haswell": 2, "zen": 2, "skylakex": 3, "cooperlake": 4, "sapphirerapids": 5,
]

/// The CPU's flags (/proc/cpuinfo).
private func cpuFlags() -> Set<String> {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return [] }
    return Set(line.split(separator: ":", maxSplits: 1).last?.split(separator: " ").map(String.init) ?? [])
}

/// OpenBLAS's best kernel for this CPU (of those OpenBLAS 0.3.21 has), with its level.
private func bestOpenBLASCore() -> (name: String, level: Int)? {
    let flags = cpuFlags()
    let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains)
    if avx512 && flags.contains("avx512_bf16") { return ("Cooperlake", 4) }
    if avx512 { return ("SkylakeX", 3) }
    if flags.contains("avx2") && flags.contains("fma") { return ("Haswell", 2) }
    return nil
}

/// When OpenBLAS runs kernels older than this CPU supports (a DYNAMIC_ARCH build that does
/// not know the CPU's model falls back to old kernels, and OPENBLAS_CORETYPE may name an old
/// one), runs this program again, once, with OPENBLAS_CORETYPE set to OpenBLAS's best kernel
/// for the CPU: OpenBLAS reads the variable when it loads, so it takes a new process.
/// OPENBLAS_CORE_REPLACED tells the new process which kernel was replaced.
func relaunchWithBestOpenBLASCore() {
    let environment = ProcessInfo.processInfo.environment
    if environment["OPENBLAS_CORE_REPLACED"] != nil { return }
    let core = String(cString: openblas_get_corename())
    guard let best = bestOpenBLASCore(), best.level > openBLASCoreLevels[core.lowercased()] ?? 0 else {
        return
    }
    let why = environment["OPENBLAS_CORETYPE"].map { "OPENBLAS_CORETYPE=\($0)" } ?? "its own choice"
    print("OpenBLAS:  core \(core) (\(why)) is older than this CPU supports: running again with "
        + "OPENBLAS_CORETYPE=\(best.name)")
    fflush(nil)
    setenv("OPENBLAS_CORE_REPLACED", "\(core) (\(why))", 1)
    setenv("OPENBLAS_CORETYPE", best.name, 1)
    let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", arguments)
    perror("kernels: execv /proc/self/exe")  // only when execv failed
    exit(1)
}

/// Prints OpenBLAS's and MKL's configuration and the kernel each uses.
func printPeers() {
    let environment = ProcessInfo.processInfo.environment
    let forced = environment["OPENBLAS_CORETYPE"].map { ", OPENBLAS_CORETYPE=\($0)" } ?? ""
    let replaced = environment["OPENBLAS_CORE_REPLACED"].map { ", replacing core \($0)" } ?? ""
    print("OpenBLAS:  \(String(cString: openblas_get_config())), "
        + "core \(String(cString: openblas_get_corename()))\(forced)\(replaced)")
    if bench_mkl_load() != 0 {
        print("MKL:       \(String(cString: bench_mkl_version())), code path "
            + "\(String(cString: bench_mkl_code_path())), "
            + "MKL_THREADING_LAYER=\(getenv("MKL_THREADING_LAYER").map { String(cString: $0) } ?? "?"), "
            + (environment["MKL_CBWR"].map { "MKL_CBWR=\($0), " } ?? "")
            + String(cString: bench_mkl_path()))
    } else {
        print("MKL:       not measured: \(String(cString: bench_mkl_error()))")
    }
}
