import BenchmarkMachine
import BenchmarkSupport
import CKernels
import COpenBLAS

/// One product timed under variants of the GEMM's table for this CPU, against OpenBLAS and
/// MKL, in the same rounds (`kernels --gemm`): how a block size or threshold would change the
/// time, before it goes into CKernels/gemm_plan.c. Each variant is a set of assignments to the
/// table's fields ("kc=512,mc=96"); the table itself always runs first in the list, and the
/// rounds rotate who goes first.
func runTableVariants(_ gemm: GemmCase, assignments: [String], plan: TimingPlan) {
    let variants = assignments.map { text in
        let variant = bench_gemm_table_variant(text)
        if variant < 0 { Options.fail(String(cString: bench_gemm_table_error())) }
        return (name: text, number: variant)
    }
    let table = "table " + String(cString: bench_gemm_table_name())
    print("""

        GEMM \(gemm.ops) \(gemm.m)×\(gemm.k)×\(gemm.n) (m×k×n, alpha 1, beta 0, dense), \
        \(gemm.threads) thread(s), \(plan.rounds) rounds: ck_sgemm on \(table) and on each \
        variant of it, OpenBLAS and MKL, in turn.
        time/table = median time / the table's median time (< 1: faster than the table). \
        spread: fastest and slowest round against the median. route: ck_sgemm's route.

        """)
    ck_set_num_threads(Int32(gemm.threads))
    openblas_set_num_threads(Int32(gemm.threads))
    let mkl = bench_mkl_load() != 0
    if mkl { bench_mkl_set_num_threads(Int32(gemm.threads)) }
    let ck = [(name: table, number: Int32(-1))] + variants
    let (a, b, outputs) = gemm.operands(outputs: ck.count + 2)
    var contenders = ck.enumerated().map { index, variant in
        let product = gemm.ckCall(a, b, into: outputs[index])
        return Contender(name: variant.name) {
            bench_gemm_table_use(variant.number)
            product()
        }
    }
    contenders.append(Contender(name: "OpenBLAS", call: gemm.openBLASCall(a, b, into: outputs[ck.count])))
    if mkl {
        contenders.append(Contender(name: "MKL", call: gemm.mklCall(a, b, into: outputs[ck.count + 1])))
    }
    let before = CPUTimes()
    let timings = measureAlternately(contenders, plan: plan)
    let others = CPUTimes().otherProcesses(since: before)
    bench_gemm_table_use(-1)

    let rows = Table([("contender", 24), ("µs", 8), ("GF/s", 7), ("time/table", 6),
                      ("spread", 8), ("route", 27)])
    rows.printHeader()
    for (index, contender) in contenders.enumerated() {
        let timing = timings[index]
        let route = index < ck.count
            ? String(cString: bench_gemm_table_route(
                ck[index].number, gemm.transA ? 1 : 0, gemm.transB ? 1 : 0, Int64(gemm.m),
                Int64(gemm.n), Int64(gemm.k), Int32(gemm.threads)))
            : ""
        rows.printRow([
            contender.name, formattedShort(timing.median * 1e6),
            formattedShort(gemm.flops / timing.median * 1e-9),
            formatted(timing.median / timings[0].median, decimals: 3), formattedSpread(timing),
            route,
        ])
    }
    print("others: \(formatted(others)) cores kept busy by other processes meanwhile.")
    for index in 1..<contenders.count {
        let difference = relativeDifference(outputs[index], outputs[0])
        if !(difference < 1e-4) {
            print("  ! \(contenders[index].name) and \(table) differ: max |difference| / max |C| = \(difference)")
        }
    }
}
