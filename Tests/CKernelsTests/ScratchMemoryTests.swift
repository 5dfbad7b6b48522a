// The kernels' per-thread scratch memory is freed when its thread ends.
import CKernels
import Glibc
import XCTest

final class ScratchMemoryTests: XCTestCase {
    /// Products whose routes keep scratch memory, with B as stored and transposed
    /// (`testTheProductsTakeTheRoutesThatKeepScratch`).
    private static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 100, 40), (64, 100, 200), (300, 5, 300), (200, 200, 200),
    ]

    /// Runs the products of `shapes` on the calling thread.
    private static func runProducts() {
        for (m, n, k) in shapes {
            let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
            var c = [Float](repeating: 0, count: m * n)
            var param = c, grad = c
            for transB: Int32 in [0, 1] {
                ck_sgemm(0, transB, Int64(m), Int64(n), Int64(k), 1, a, Int64(k), b,
                         transB == 0 ? Int64(n) : Int64(k), 0, &c, Int64(n))
                // The packed routes' parameter update keeps a row panel of C too.
                _ = ck_sgemm_sgd(0, transB, Int64(m), Int64(n), Int64(k), 1, a, Int64(k), b,
                                 transB == 0 ? Int64(n) : Int64(k), &grad, &param, nil, 0.1, 0,
                                 0, 0, 0, 0, 1)
            }
        }
    }

    /// Runs `body` on a new thread and returns its result once the thread has ended.
    private static func onThreadThatEnds(_ body: @escaping @Sendable () -> Int64) -> Int64 {
        final class Job: @unchecked Sendable {
            let body: @Sendable () -> Int64
            var result: Int64 = 0
            init(_ body: @escaping @Sendable () -> Int64) { self.body = body }
        }
        let job = Job(body)
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            let job = Unmanaged<Job>.fromOpaque(context!).takeUnretainedValue()
            job.result = job.body()
            return nil
        }, Unmanaged.passUnretained(job).toOpaque())
        precondition(created == 0, "pthread_create returned \(created)")
        pthread_join(thread, nil)
        return job.result
    }

    /// Threads that run products and end leave the kernels' scratch memory as it was, on every
    /// path this CPU runs (the portable and AVX2 paths pad Y's last columns in scratch too).
    func testThreadsThatEndFreeTheirScratchMemory() {
        let original = ck_gemm_get_path()
        defer { ck_gemm_set_path(original) }
        // One thread: no OpenMP workers, whose scratch memory lives as long as they do.
        withThreads(1) {
            for path in allPaths where ck_gemm_path_supported(path) == 1 {
                XCTAssertEqual(ck_gemm_set_path(path), 0)
                let before = ck_scratch_bytes()
                for round in 0..<3 {
                    let held = Self.onThreadThatEnds {
                        Self.runProducts()
                        return ck_scratch_bytes()
                    }
                    XCTAssertGreaterThan(held, before, "path \(path.rawValue), round \(round)")
                    XCTAssertEqual(ck_scratch_bytes(), before, "path \(path.rawValue), round \(round)")
                }
            }
        }
    }

    /// The products of the test above take the routes that keep scratch memory: dot with B as
    /// stored (B's transposed copy), broadcast with B transposed (B's copy; padded columns on
    /// some paths), and packed (A~, B~, the parameter update's row panel).
    func testTheProductsTakeTheRoutesThatKeepScratch() {
        var taken = Set<String>()
        for (m, n, k) in Self.shapes {
            for transB: Int32 in [0, 1] {
                let route = ck_gemm_route_for(ck_gemm_get_arch(), 1, 0, transB, Int64(m), Int64(n),
                                              Int64(k), Int64(n), 1, 0, CK_GEMM_EPILOGUE_NONE)
                taken.insert(String(cString: ck_gemm_route_name(route)) + (transB == 1 ? " Bᵀ" : ""))
            }
        }
        XCTAssertTrue(taken.isSuperset(of: ["dot", "broadcast Bᵀ"]) &&
                          taken.contains { $0.hasPrefix("packed") },
                      "routes taken: \(taken.sorted())")
    }
}
