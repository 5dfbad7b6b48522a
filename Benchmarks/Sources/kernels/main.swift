import BenchmarkArguments
import BenchmarkMachine
import BenchmarkSupport
import Foundation

/// Command-line options.
struct Options {
    var quick = false
    var filter: String?
    var threads: Int?
    var rounds: Int?
    /// --gemm: one product, m×k×n, timed under variants of the table.
    var gemm: (m: Int, k: Int, n: Int)?
    var ops = "NN"
    var tables: [String] = []

    static let usage = """
        usage: kernels [--quick] [--filter TEXT] [--threads N] [--rounds N]
               kernels --gemm MxKxN [--op NN|NT|TN|TT] [--threads N] [--rounds N]
                       [--table FIELD=V,...]...
          --quick        3 rounds, no 2048 GEMM, no 4M-element case (about 30 s)
          --filter TEXT  only cases whose name contains TEXT (case-insensitive), e.g. gemm,
                         square, spiral, mlp256, mlp32, conv, dW, elementwise, relu, sgd, adam,
                         rmsprop, pool, im2col, col2im
          --threads N    run everything on N threads (default: all processors; square GEMMs
                         run on 1 and on all)
          --rounds N     rounds of the round robin (default 9, quick 3)
          --gemm MxKxN   only this product (op(A) m×k, op(B) k×n), on the GEMM's table for
                         this CPU, on each --table variant of it, on OpenBLAS and on MKL
          --op OPS       N or T for op(A) then op(B) (default NN)
          --table A      a variant of the table: assignments to its fields, e.g. kc=512,mc=96
                         (CKernels/gemm_plan.h describes each field)
        """

    init(_ arguments: [String]) {
        var arguments = ArgumentReader(program: "kernels", usage: Options.usage,
                                       arguments: arguments)
        while let argument = arguments.next() {
            switch argument {
            case "--quick": quick = true
            case "--filter": filter = arguments.value(for: argument).lowercased()
            case "--threads": threads = arguments.positiveInteger(for: argument)
            case "--rounds": rounds = arguments.positiveInteger(for: argument)
            case "--gemm":
                let sizes = arguments.value(for: argument).split(whereSeparator: { "x×".contains($0) })
                    .compactMap { Int($0) }.filter { $0 > 0 }
                guard sizes.count == 3 else { arguments.fail("--gemm needs MxKxN, e.g. 1024x1024x1024") }
                gemm = (sizes[0], sizes[1], sizes[2])
            case "--op":
                ops = arguments.value(for: argument).uppercased()
                guard ["NN", "NT", "TN", "TT"].contains(ops) else { arguments.fail("--op needs NN, NT, TN or TT") }
            case "--table": tables.append(arguments.value(for: argument))
            default: arguments.fail("unknown argument \(argument)")
            }
        }
        if gemm == nil && (!tables.isEmpty || ops != "NN") { arguments.fail("--table and --op need --gemm") }
    }

    /// Ends the program with `message` and the usage: for a problem found after the
    /// arguments were read.
    static func fail(_ message: String) -> Never {
        ArgumentReader.fail(program: "kernels", usage: usage, message)
    }

    func selects(_ id: String) -> Bool { filter.map { id.lowercased().contains($0) } ?? true }

    var plan: TimingPlan {
        TimingPlan(rounds: rounds ?? (quick ? 3 : 9), blockSeconds: quick ? 0.02 : 0.03)
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
relaunchWithBestOpenBLASCore()
let started = now()
let allThreads = options.threads ?? ProcessInfo.processInfo.activeProcessorCount

printMachine(threads: allThreads)
if let (m, k, n) = options.gemm {
    let gemm = GemmCase(group: "variants", name: "", transA: options.ops.first == "T",
                        transB: options.ops.last == "T", m: m, k: k, n: n, threads: allThreads)
    runTableVariants(gemm, assignments: options.tables, plan: options.plan)
    exit(0)
}
let threadCounts = options.threads.map { [$0] } ?? Array(Set([1, allThreads])).sorted()
let gemms = gemmCases(threadCounts: threadCounts, quick: options.quick).filter {
    options.selects($0.id)
}
if !gemms.isEmpty { runGemmBenchmarks(gemms, plan: options.plan) }

let kernels = elementwiseKernels().filter { options.selects($0.id) }
let sizes = [2_000, 20_000, 200_000, 2_000_000] + (options.quick ? [] : [4_000_000])
if !kernels.isEmpty {
    runElementwiseBenchmarks(kernels, sizes: sizes, threads: allThreads, plan: options.plan)
}

print("""

    Total \(formatted(now() - started)) s, of which \(formatted(bench_total_idle_wait())) s \
    waiting for spinning threads to sleep; load average \(loadAverage()).
    """)
