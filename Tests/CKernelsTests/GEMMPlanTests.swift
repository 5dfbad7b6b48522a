// The GEMM's plan: which table each kind of CPU gets, and which route a product takes on a
// given table. Results are checked by GEMMTests and GEMMEpilogueTests on every route.
import CKernels
import XCTest

final class GEMMPlanTests: XCTestCase {
    private func cpu(_ vendor: ck_cpu_vendor, family: Int32, model: Int32, avx512: Bool,
                     avx2: Bool = true, amx: Bool = false) -> ck_gemm_cpu {
        ck_gemm_cpu(vendor: vendor, family: family, model: model, avx512f: avx512 ? 1 : 0,
                    avx2_fma: avx2 ? 1 : 0, amx_tile: amx ? 1 : 0)
    }

    func testEachKindOfCPUGetsItsTable() {
        let cases: [(String, ck_gemm_cpu, ck_gemm_arch)] = [
            ("Zen 4 (EPYC Genoa)", cpu(CK_CPU_VENDOR_AMD, family: 25, model: 17, avx512: true),
             CK_GEMM_ARCH_AVX512_ONE_FMA),
            ("Zen 3: no AVX-512", cpu(CK_CPU_VENDOR_AMD, family: 25, model: 1, avx512: false),
             CK_GEMM_ARCH_AVX2),
            ("Zen 5 (EPYC Turin)", cpu(CK_CPU_VENDOR_AMD, family: 26, model: 2, avx512: true),
             CK_GEMM_ARCH_AVX512_ZEN5),
            ("Zen 5, a model not listed",
             cpu(CK_CPU_VENDOR_AMD, family: 26, model: 68, avx512: true),
             CK_GEMM_ARCH_AVX512_ZEN5),
            ("Emerald Rapids", cpu(CK_CPU_VENDOR_INTEL, family: 6, model: 207, avx512: true),
             CK_GEMM_ARCH_AVX512_TWO_FMA),
            ("Sapphire Rapids", cpu(CK_CPU_VENDOR_INTEL, family: 6, model: 143, avx512: true),
             CK_GEMM_ARCH_AVX512_TWO_FMA),
            ("Skylake-SP", cpu(CK_CPU_VENDOR_INTEL, family: 6, model: 85, avx512: true),
             CK_GEMM_ARCH_AVX512_TWO_FMA),
            ("Sapphire Rapids in a KVM guest that reports model 167",
             cpu(CK_CPU_VENDOR_INTEL, family: 6, model: 167, avx512: true, amx: true),
             CK_GEMM_ARCH_AVX512_TWO_FMA),
            ("Rocket Lake (model 167, no AMX): one FMA unit",
             cpu(CK_CPU_VENDOR_INTEL, family: 6, model: 167, avx512: true),
             CK_GEMM_ARCH_AVX512_ONE_FMA),
            ("Ice Lake client: one FMA unit",
             cpu(CK_CPU_VENDOR_INTEL, family: 6, model: 126, avx512: true),
             CK_GEMM_ARCH_AVX512_ONE_FMA),
            ("Intel, unknown family", cpu(CK_CPU_VENDOR_INTEL, family: 19, model: 1, avx512: true),
             CK_GEMM_ARCH_AVX512_ONE_FMA),
            ("unknown vendor with AVX-512",
             cpu(CK_CPU_VENDOR_OTHER, family: 6, model: 207, avx512: true),
             CK_GEMM_ARCH_AVX512_ONE_FMA),
            ("Intel without AVX-512",
             cpu(CK_CPU_VENDOR_INTEL, family: 6, model: 151, avx512: false),
             CK_GEMM_ARCH_AVX2),
            ("no AVX2", cpu(CK_CPU_VENDOR_OTHER, family: 0, model: 0, avx512: false, avx2: false),
             CK_GEMM_ARCH_PORTABLE),
        ]
        for (what, cpu, arch) in cases {
            XCTAssertEqual(ck_gemm_arch_for_cpu(cpu), arch, what)
        }
    }

    /// What ck_gemm_this_cpu reads off CPUID agrees with the flags Linux lists for the CPU.
    func testThisCPUsFeaturesAreThoseLinuxLists() throws {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: {
                  $0.hasPrefix("flags")
              })
        else { throw XCTSkip("no /proc/cpuinfo flags: not Linux on x86-64") }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let cpu = ck_gemm_this_cpu()
        XCTAssertEqual(cpu.avx512f == 1, flags.contains("avx512f"))
        XCTAssertEqual(cpu.amx_tile == 1, flags.contains("amx_tile"))
        XCTAssertEqual(cpu.avx2_fma == 1, flags.contains("avx2") && flags.contains("fma"))
    }

    func testDefaultIsThisCPUsTableUnlessAPathIsForced() throws {
        if ProcessInfo.processInfo.environment["CK_GEMM_PATH"] != nil {
            throw XCTSkip("CK_GEMM_PATH forces a path")
        }
        let original = ck_gemm_get_arch()
        XCTAssertEqual(original, ck_gemm_arch_for_cpu(ck_gemm_this_cpu()))
        XCTAssertEqual(ck_gemm_path_supported(ck_gemm_get_path()), 1)
        defer { ck_gemm_set_arch(original) }
        // Forcing this CPU's own path keeps its table; another path takes that path's table.
        XCTAssertEqual(ck_gemm_set_path(ck_gemm_arch_path(original)), 0)
        XCTAssertEqual(ck_gemm_get_arch(), original)
        XCTAssertEqual(ck_gemm_set_path(CK_GEMM_PATH_PORTABLE), 0)
        XCTAssertEqual(ck_gemm_get_arch(),
                       original == CK_GEMM_ARCH_PORTABLE ? original : CK_GEMM_ARCH_PORTABLE)
    }

    func testSetArchOfUnsupportedPathFailsAndChangesNothing() throws {
        guard let unsupported = allArchitectures.first(where: {
            ck_gemm_path_supported(ck_gemm_arch_path($0)) == 0
        }) else {
            throw XCTSkip("this CPU runs every architecture's path: none to reject")
        }
        let original = ck_gemm_get_arch()
        XCTAssertEqual(ck_gemm_set_arch(unsupported), -1)
        XCTAssertEqual(ck_gemm_get_arch(), original)
    }

    private func route(
        _ arch: ck_gemm_arch, threads: Int32 = 2, _ trans: String, _ m: Int, _ k: Int, _ n: Int,
        ldc: Int? = nil, alpha: Float = 1, beta: Float = 0,
        epilogue: ck_gemm_epilogue_kind = CK_GEMM_EPILOGUE_NONE
    ) -> String {
        String(cString: ck_gemm_route_name(ck_gemm_route_for(
            arch, threads, trans.first == "T" ? 1 : 0, trans.last == "T" ? 1 : 0,
            Int64(m), Int64(n), Int64(k), Int64(ldc ?? n),
            alpha, beta, epilogue)))
    }

    /// A product of one k block (`k` deep) and one A~ block (`rows` × `rows`, C's rows that
    /// many floats apart, a multiple of 16) takes own slivers, reading B in place, on 1 thread
    /// and on 2; with C's rows 2 floats further apart, off cache lines, on 1 thread only.
    private func assertOneBlockTakesOwnSlivers(
        _ arch: ck_gemm_arch, rows: Int, k: Int, file: StaticString = #filePath, line: UInt = #line
    ) {
        let name = String(cString: ck_gemm_arch_name(arch))
        for threads: Int32 in [1, 2] {
            XCTAssertEqual(route(arch, threads: threads, "NN", rows, k, rows),
                           "packed-own-slivers-in-place", name, file: file, line: line)
        }
        XCTAssertEqual(route(arch, "NN", rows, k, rows, ldc: rows + 2), "packed", name,
                       file: file, line: line)
        XCTAssertEqual(route(arch, threads: 1, "NN", rows, k, rows, ldc: rows + 2),
                       "packed-own-slivers-in-place", name, file: file, line: line)
    }

    /// The routes of the spiral's and the MLP's products (shapes m×k×n, as the benchmark
    /// writes them) on every table: what the tables agree on.
    func testRoutesOfTheExamplesProducts() {
        for arch in allArchitectures {
            let name = String(cString: ck_gemm_arch_name(arch))
            // Spiral: H = relu(X·W1 + b) 20×2×100, fused: row panels; with beta 1
            // (accumulating) or alpha 2, the broadcast form's tiles.
            XCTAssertEqual(route(arch, "NN", 20, 2, 100, epilogue: CK_GEMM_EPILOGUE_BIAS_RELU),
                           "row-panels", name)
            XCTAssertEqual(route(arch, "NN", 20, 2, 100, beta: 1), "broadcast", name)
            XCTAssertEqual(route(arch, "NN", 20, 2, 100, alpha: 2), "broadcast", name)
            XCTAssertEqual(route(arch, "NN", 20, 5, 100),
                           "broadcast", name) // 5 terms: past the panels
            // Y = H·W2 20×100×3: long k, 3 columns; dW2 = Hᵀ·dY 100×20×3 TN: C's transpose;
            // dX2 = dY·W2ᵀ 20×3×100 NT with the ReLU's mask: row panels (3 terms).
            XCTAssertEqual(route(arch, "NN", 20, 100, 3), "dot", name)
            XCTAssertEqual(route(arch, "TN", 100, 20, 3), "broadcast-transposed", name)
            XCTAssertEqual(route(arch, "NT", 20, 3, 100, epilogue: CK_GEMM_EPILOGUE_RELU_BACKWARD),
                           "row-panels", name)
            // MLP at batch 256 and 32. The tables of Zen 4, of Intel's two FMA units and of
            // AVX2 pack all 256 rows of A~ per thread (own_slivers_max_a) and split the
            // columns: each thread packs its own slivers.
            let ownPastMC = arch == CK_GEMM_ARCH_AVX512_ONE_FMA
                || arch == CK_GEMM_ARCH_AVX512_TWO_FMA || arch == CK_GEMM_ARCH_AVX2
            XCTAssertEqual(route(arch, "NN", 256, 784, 1024),
                           ownPastMC ? "packed-own-slivers" : "packed", name)
            XCTAssertEqual(route(arch, "NN", 256, 1024, 1024),
                           ownPastMC ? "packed-own-slivers" : "packed", name)
            XCTAssertEqual(route(arch, "NN", 256, 1024, 10), "dot", name)
            // dW = Xᵀ·dY: B~ blocks 256 (or 32) deep; each thread's part of them (2 × 1
            // threads) fits the two-FMA table's along_rows_max_b.
            let dW = arch == CK_GEMM_ARCH_AVX512_TWO_FMA ? "packed-along-rows" : "packed"
            XCTAssertEqual(route(arch, "TN", 1024, 256, 1024), dW, name)
            XCTAssertEqual(route(arch, "TN", 1024, 256, 10), "broadcast-transposed", name)
            XCTAssertEqual(route(arch, "NT", 256, 1024, 1024),
                           ownPastMC ? "packed-own-slivers" : "packed", name)
            // On 2 threads 32 rows are 3 AVX-512 tiles, one row part; 6 of the others' tiles
            // tie with two row parts, and a table with own_slivers_max_a takes one, reading B
            // in place. The Zen 4 table takes the broadcast form (broadcast_max_work).
            let zen4 = arch == CK_GEMM_ARCH_AVX512_ONE_FMA
            XCTAssertEqual(route(arch, "NN", 32, 1024, 1024),
                           zen4 ? "broadcast"
                               : arch == CK_GEMM_ARCH_PORTABLE ? "packed" : "packed-own-slivers-in-place",
                           name)
            // dX = dY·Wᵀ at batch 32: the dot form, except on the AVX2 table (up to 8 rows),
            // where 32 rows are one row part with own slivers of B's transpose.
            XCTAssertEqual(route(arch, "NT", 32, 1024, 1024),
                           arch == CK_GEMM_ARCH_AVX2 ? "packed-own-slivers" : "dot", name)
            XCTAssertEqual(route(arch, "TN", 1024, 32, 1024), dW, name)
            XCTAssertEqual(route(arch, "TN", 1024, 32, 10), "broadcast-transposed", name)
            // Nothing to do; only C = beta * C.
            XCTAssertEqual(route(arch, "NN", 0, 5, 5), "nothing", name)
            XCTAssertEqual(route(arch, "NN", 5, 0, 5), "scale", name)
            XCTAssertEqual(route(arch, "NN", 5, 5, 5, alpha: 0), "scale", name)
        }
    }

    /// The spiral's training step (a 2-100-3 network at batch 20, and the 300 points of its
    /// evaluation) with the epilogue each of its products is called with, on 1 and 2 threads:
    /// every one a direct route, never packed, whatever the thread count: products this small
    /// cost less than packing their operands or opening a parallel region.
    func testTheSpiralStepsProductsTakeDirectRoutesOnAnyThreadCount() {
        for arch in allArchitectures {
            let name = String(cString: ck_gemm_arch_name(arch))
            for threads: Int32 in [1, 2] {
                let what = "\(name), \(threads) threads"
                // Forward: H = relu(X·W1 + b1), Y = H·W2 + b2; the evaluation's 300 points.
                XCTAssertEqual(route(arch, threads: threads, "NN", 20, 2, 100,
                                     epilogue: CK_GEMM_EPILOGUE_BIAS_RELU), "row-panels", what)
                XCTAssertEqual(route(arch, threads: threads, "NN", 20, 100, 3,
                                     epilogue: CK_GEMM_EPILOGUE_BIAS), "dot", what)
                XCTAssertEqual(route(arch, threads: threads, "NN", 300, 2, 100,
                                     epilogue: CK_GEMM_EPILOGUE_BIAS_RELU), "row-panels", what)
                // Backward: dW2 = Hᵀ·dY, dH = (dY·W2ᵀ) masked by H, dW1 = Xᵀ·dH.
                XCTAssertEqual(route(arch, threads: threads, "TN", 100, 20, 3),
                               "broadcast-transposed", what)
                XCTAssertEqual(route(arch, threads: threads, "NT", 20, 3, 100,
                                     epilogue: CK_GEMM_EPILOGUE_RELU_BACKWARD), "row-panels", what)
                XCTAssertEqual(route(arch, threads: threads, "TN", 2, 20, 100), "broadcast", what)
            }
        }
    }

    /// Each threshold of a table, on both sides, on the Zen 4 table (the others' values are
    /// in CKernels/gemm_plan.c): the dot form from 64 terms per sum and up to 15 columns, or
    /// B transposed and up to 32 rows; no packing up to 64³ multiply-adds, nor up to 512³
    /// with A and B as stored, on any thread count; C's transpose for A transposed, C taller
    /// than wide and up to 15 columns. Past those, own slivers when one row part (the thread grid
    /// whose busiest thread has the fewest 12×32 tiles; on a tie, one row part if it takes
    /// own slivers) and one A~ block of rows (one MC block of 240 rows, or up to 2¹⁸ floats of
    /// rows × min(k, KC)) meet a B~ block larger than the product's own A~, or a product of
    /// one k block and one A~ block; B as stored read in place by them up to 2¹⁹ floats.
    func testThresholdsOfTheZen4Table() {
        let zen4 = CK_GEMM_ARCH_AVX512_ONE_FMA
        XCTAssertEqual(route(zen4, "NN", 300, 64, 15), "dot")
        XCTAssertEqual(route(zen4, "NN", 300, 63, 15), "broadcast")
        XCTAssertEqual(route(zen4, "NN", 300, 64, 16), "broadcast")
        XCTAssertEqual(route(zen4, "TN", 300, 64, 15), "broadcast-transposed")
        XCTAssertEqual(route(zen4, "NT", 32, 64, 300), "dot")
        XCTAssertEqual(route(zen4, "NT", 33, 64, 300), "packed-own-slivers")
        XCTAssertEqual(route(zen4, "TN", 128, 32, 64), "broadcast-transposed") // C taller than wide
        XCTAssertEqual(route(zen4, "TN", 64, 64, 64), "broadcast") // as wide as tall
        XCTAssertEqual(route(zen4, "TT", 64, 64, 64), "broadcast-transposed")
        XCTAssertEqual(route(zen4, "TN", 700, 300, 15), "broadcast-transposed")
        // Past 64³ with A or B transposed: packed.
        XCTAssertEqual(route(zen4, "TN", 700, 300, 16), "packed")
        XCTAssertEqual(route(zen4, "TT", 65, 64, 64), "packed")
        XCTAssertEqual(route(zen4, "TN", 15, 300000, 15), "packed") // not taller than wide
        // The broadcast form up to 512³ multiply-adds with A and B as stored, on any thread
        // count: a batch of 32's forward products, the digits network's first convolution.
        for threads: Int32 in [1, 2] {
            XCTAssertEqual(route(zen4, threads: threads, "NN", 512, 512, 512), "broadcast")
            XCTAssertEqual(route(zen4, threads: threads, "NN", 32, 1024, 1024), "broadcast")
            XCTAssertEqual(route(zen4, threads: threads, "NN", 16, 9, 16384), "broadcast")
        }
        XCTAssertEqual(route(zen4, "NN", 512, 512, 513), "packed")
        XCTAssertEqual(route(zen4, "NT", 512, 512, 512), "packed") // B transposed
        XCTAssertEqual(route(zen4, "TN", 512, 512, 512), "packed") // A transposed
        XCTAssertEqual(route(zen4, "TN", 1024, 32, 1024), "packed") // dW at batch 32
        XCTAssertEqual(route(zen4, threads: 1, "TN", 144, 16, 16384), "packed-own-slivers-in-place")
        XCTAssertEqual(route(zen4, "NT", 36, 1024, 241), "packed-own-slivers")
        // On one thread, the own slivers of one block or by rows only in place: B transposed
        // is packed into a shared B~ in one pass (the MLP's dH = dY·Wᵀ at batch 32 runs on
        // one thread), unless B~ is larger than a whole A~ block (240 × 1024 floats: 241
        // columns).
        XCTAssertEqual(route(zen4, "NT", 32, 10, 1024), "packed")
        XCTAssertEqual(route(zen4, threads: 1, "NT", 36, 1024, 240), "packed")
        XCTAssertEqual(route(zen4, threads: 1, "NT", 36, 1024, 241), "packed-own-slivers")
        XCTAssertEqual(route(zen4, "NT", 36, 1024, 240), "packed-own-slivers")
        // Past 240 rows, A~ up to 2¹⁸ floats: 256 × 1024, or 257 × 1020.
        XCTAssertEqual(route(zen4, threads: 1, "NN", 256, 1024, 1024), "packed-own-slivers")
        XCTAssertEqual(route(zen4, threads: 1, "NN", 257, 1024, 1024), "packed") // two A~ blocks
        XCTAssertEqual(route(zen4, threads: 1, "NN", 257, 1020, 1024), "packed-own-slivers")
        // B of 2¹⁹ floats, not read in place by more than 240 rows.
        XCTAssertEqual(route(zen4, threads: 1, "NN", 512, 512, 1024), "packed-own-slivers")
        XCTAssertEqual(route(zen4, threads: 1, "NN", 513, 512, 1024), "packed")
        // 22 × 32 tiles (256 rows) tie on 2 threads: one row part, each thread all 256 rows.
        XCTAssertEqual(route(zen4, "NN", 256, 784, 1024), "packed-own-slivers")
        // Unless a thread's 512 columns of B~ are no more than A~'s 784 rows (dW at batch 256).
        XCTAssertEqual(route(zen4, "TN", 784, 256, 1024), "packed")
        XCTAssertEqual(route(zen4, threads: 1, "TN", 784, 256, 1024), "packed-own-slivers")
        // C taller than wide, one k block and one A~ block of 240 rows, C's rows on cache
        // lines (192 floats apart): own slivers, B as stored read in place, its transpose
        // packed; C's rows 200 floats apart: a shared B~.
        XCTAssertEqual(route(zen4, "TN", 240, 1024, 192), "packed-own-slivers-in-place")
        XCTAssertEqual(route(zen4, "TT", 240, 1024, 192), "packed-own-slivers")
        XCTAssertEqual(route(zen4, "TN", 240, 1024, 200), "packed")
        // On 2 threads two row parts sharing B~ replace one with own slivers only for a saving
        // of more than a quarter of the busiest thread's tiles: 6 × 5 tiles against 3 × 9
        // (a convolution's dW of 64 channels), 2 × 2 against 1 × 3, one row part; 2 × 1
        // against 1 × 1 (one sliver of columns), two.
        XCTAssertEqual(route(zen4, "NT", 64, 12544, 288), "packed-own-slivers")
        XCTAssertEqual(route(zen4, "TN", 24, 4096, 96), "packed-own-slivers-in-place")
        XCTAssertEqual(route(zen4, "TN", 24, 4096, 32), "packed")
        // 4 threads on 3000 columns tie at 1 × 4, 2 × 2 and 4 × 1: 240 rows one row part;
        // 480 rows are two A~ blocks, and four row parts share B~.
        XCTAssertEqual(route(zen4, threads: 4, "NN", 240, 1024, 3000), "packed-own-slivers")
        XCTAssertEqual(route(zen4, threads: 4, "NN", 480, 1024, 3000), "packed")
    }

    /// Where the two-FMA table differs from the Zen 4 table's thresholds: PACKED goes along
    /// C's rows while a thread's part of a B~ block (min(k, 1024) deep, its columns in whole
    /// 32-column slivers) is at most 2¹⁸ floats, and own slivers read B in place up to 2²⁰.
    /// As on the Zen 4 table, a product of one k block (at most 1024 deep) and one A~ block (at
    /// most 240 rows) takes own slivers, on several threads when C's rows start on cache lines.
    func testThresholdsWhereTheTwoFMATableDiffers() {
        let intel = CK_GEMM_ARCH_AVX512_TWO_FMA
        // 2 × 1 threads: each thread all 1024 columns; 256 × 1024 floats, then 257 × 1024.
        XCTAssertEqual(route(intel, "TN", 1024, 256, 1024), "packed-along-rows")
        XCTAssertEqual(route(intel, "TN", 1024, 257, 1024), "packed")
        // 33 slivers (1056 columns) of 248 rows: 261,888 floats; of 249 rows: 262,944.
        XCTAssertEqual(route(intel, "TN", 1024, 248, 1025), "packed-along-rows")
        XCTAssertEqual(route(intel, "TN", 1024, 249, 1025), "packed")
        // Past KC the block is 1024 deep: 256 columns fit, 257 (nine slivers) do not.
        XCTAssertEqual(route(intel, "NN", 1024, 5000, 256), "packed-along-rows")
        XCTAssertEqual(route(intel, "NN", 1024, 5000, 257), "packed")
        // The squares: blocks of 1024 × 1024 shared floats.
        XCTAssertEqual(route(intel, threads: 1, "NN", 1024, 1024, 1024), "packed")
        XCTAssertEqual(route(intel, "NN", 2048, 2048, 2048), "packed")
        // Own slivers come first (a batch of 32's forward product), and B as stored is read
        // in place up to 2²⁰ floats (the Zen 4 table: 2¹⁹).
        XCTAssertEqual(route(intel, "NN", 32, 1024, 1024), "packed-own-slivers-in-place")
        XCTAssertEqual(route(intel, "NN", 36, 1024, 1025), "packed-own-slivers")
        XCTAssertEqual(route(intel, "NT", 32, 1024, 1024), "dot")
        // One k block and one A~ block: own slivers on 2 threads, however small B~ is (B read
        // in place when it may be); rows of 16 floats or a multiple are whole cache lines.
        XCTAssertEqual(route(intel, "TN", 240, 32, 240), "packed-own-slivers-in-place")
        XCTAssertEqual(route(intel, "NT", 128, 128, 128), "packed-own-slivers")
        XCTAssertEqual(route(intel, "NN", 240, 1024, 240), "packed-own-slivers-in-place")
        XCTAssertEqual(route(intel, "NN", 240, 32, 240, ldc: 256), "packed-own-slivers-in-place")
        XCTAssertEqual(route(intel, "TN", 240, 32, 250), "packed-along-rows") // rows of 250 floats
        XCTAssertEqual(route(intel, "TN", 240, 32, 240, ldc: 248), "packed-along-rows")
        XCTAssertEqual(route(intel, "TN", 241, 32, 240), "packed-along-rows") // two A~ blocks
        XCTAssertEqual(route(intel, "NN", 240, 1025, 240), "packed-along-rows") // two k blocks
        // PACKED runs 8 × 48 tiles, laid out for them: 24 × 480 of 2048 terms on 2 threads
        // would split its 2 rows of 12 × 32 tiles, but its 1 row of 8 × 48 tiles is split by
        // columns: one row part, each thread packing its own 5 slivers of 48 columns.
        XCTAssertEqual(route(intel, "NN", 24, 2048, 480), "packed-own-slivers")
        XCTAssertEqual(route(CK_GEMM_ARCH_AVX512_ZEN5, "NN", 24, 2048, 480), "packed")
        // One thread splits nothing: C's rows may start anywhere.
        XCTAssertEqual(route(intel, threads: 1, "TN", 240, 32, 240), "packed-own-slivers-in-place")
        XCTAssertEqual(route(intel, threads: 1, "TN", 240, 32, 250), "packed-own-slivers-in-place")
        XCTAssertEqual(route(intel, threads: 1, "NT", 240, 32, 250), "packed-own-slivers")
        // The Zen 4 table takes the same; the Zen 5 table a B~ larger than the A~ block, and
        // the AVX2 table's A~ block is 144 rows.
        XCTAssertEqual(route(CK_GEMM_ARCH_AVX512_ONE_FMA, "TN", 240, 32, 240),
                       "packed-own-slivers-in-place")
        for arch in [CK_GEMM_ARCH_AVX512_ZEN5, CK_GEMM_ARCH_AVX2] {
            XCTAssertEqual(route(arch, "TN", 240, 32, 240), "packed", String(cString: ck_gemm_arch_name(arch)))
        }
    }

    /// Where the AVX2 table differs from the Zen 4 table's thresholds: the dot form of B
    /// transposed up to 8 rows (32 elsewhere); past that, packed 6 × 16 tiles. Own slivers
    /// read B in place while its rows cycle through at least 2 of L2's 1024 sets for each of
    /// its tiles of rows: rows 1024 floats (4 KB) apart cycle through 16 sets (8 tiles), 2048
    /// apart through 8 (4 tiles), 784 apart through all of them.
    /// Two row parts sharing B~ replace one with own slivers only for a saving of more than a
    /// sixteenth of the busiest thread's tiles (the Zen 4 table: a quarter). Own slivers
    /// wherever B~ would be larger than the product's own A~ (its rows, up to mc, by kc), as on
    /// the Zen 4 table, not only than a whole A~ block (the Zen 5 and two-FMA tables), and for a
    /// product of one k block and one A~ block, as on the Zen 4 and two-FMA tables.
    func testThresholdsWhereTheAVX2TableDiffers() {
        let avx2 = CK_GEMM_ARCH_AVX2
        XCTAssertEqual(route(avx2, "NT", 8, 64, 1000), "dot")
        XCTAssertEqual(route(avx2, "NT", 9, 64, 1000), "packed-own-slivers")
        XCTAssertEqual(route(avx2, threads: 1, "NT", 8, 1024, 1024), "dot")
        XCTAssertEqual(route(avx2, threads: 1, "NT", 12, 1024, 1024), "packed-own-slivers")
        XCTAssertEqual(route(CK_GEMM_ARCH_AVX512_ONE_FMA, "NT", 9, 64, 1000), "dot")
        // Rows 4 KB apart: 8 tiles (48 rows), then 9; as deep as a k block or shallow.
        XCTAssertEqual(route(avx2, threads: 1, "NN", 48, 1024, 1024), "packed-own-slivers-in-place")
        XCTAssertEqual(route(avx2, threads: 1, "NN", 49, 1024, 1024), "packed-own-slivers")
        XCTAssertEqual(route(avx2, "NN", 36, 1024, 1024), "packed-own-slivers-in-place")
        XCTAssertEqual(route(avx2, threads: 1, "NN", 144, 64, 1024), "packed-own-slivers")
        // Rows 8 KB apart: 4 tiles (24 rows), then 5.
        XCTAssertEqual(route(avx2, "NN", 16, 1024, 2048), "packed-own-slivers-in-place")
        XCTAssertEqual(route(avx2, threads: 1, "NN", 24, 1024, 2048), "packed-own-slivers-in-place")
        XCTAssertEqual(route(avx2, threads: 1, "NN", 25, 1024, 2048), "packed-own-slivers")
        XCTAssertEqual(route(avx2, threads: 1, "NN", 36, 32, 2048), "packed-own-slivers")
        // Rows 784 floats apart, through all sets: all 144 rows (24 tiles) of one A~ block.
        XCTAssertEqual(route(avx2, threads: 1, "NN", 144, 1024, 784), "packed-own-slivers-in-place")
        // 6 × 25 tiles a thread in one row part, 3 × 49 in two: within a sixteenth, one row
        // part with own slivers (B's rows 784 floats apart, one a set: in place). 6 × 6
        // against 3 × 11 saves more: two row parts.
        XCTAssertEqual(route(avx2, "NN", 36, 1024, 784), "packed-own-slivers-in-place")
        XCTAssertEqual(route(avx2, "NT", 36, 1024, 784), "packed-own-slivers")
        XCTAssertEqual(route(avx2, "NN", 36, 1024, 176), "packed")
        // The digits network's dW at batch 32, 16 rows by 144 columns: B~ is larger than the
        // 16 rows of A~. 48 rows likewise, where the Zen 5 table compares B~ with a whole A~
        // block and shares it; 100 rows against 144 columns (B in place); 128 against 128 in
        // two k blocks, a B~ no larger: shared.
        XCTAssertEqual(route(avx2, "NT", 16, 2048, 144), "packed-own-slivers")
        XCTAssertEqual(route(avx2, threads: 1, "NT", 48, 2048, 144), "packed-own-slivers")
        XCTAssertEqual(route(CK_GEMM_ARCH_AVX512_ZEN5, threads: 1, "NT", 48, 2048, 144), "packed")
        XCTAssertEqual(route(avx2, "NN", 100, 128, 144), "packed-own-slivers-in-place")
        XCTAssertEqual(route(avx2, "NN", 128, 300, 128), "packed")
        assertOneBlockTakesOwnSlivers(avx2, rows: 128, k: 128)
        // The other tables read B in place up to mc rows, whatever its rows' distance.
        XCTAssertEqual(route(avx2, threads: 1, "NN", 72, 512, 1024), "packed-own-slivers")
        XCTAssertEqual(route(CK_GEMM_ARCH_AVX512_ZEN5, threads: 1, "NN", 72, 512, 1024),
                       "packed-own-slivers-in-place")
    }
}
