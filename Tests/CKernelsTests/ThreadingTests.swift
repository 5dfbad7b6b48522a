// ck_set_num_threads, ck_get_num_threads and ck_max_num_threads.
import CKernels
import XCTest

final class ThreadingTests: XCTestCase {
    func testSetNumThreadsAndRestoreDefault() {
        defer { ck_set_num_threads(0) }
        ck_set_num_threads(0)
        let defaultCount = ck_get_num_threads()
        XCTAssertGreaterThanOrEqual(defaultCount, 1)
        for n: Int32 in [1, 2, 3, 64] {
            ck_set_num_threads(n)
            XCTAssertEqual(ck_get_num_threads(), n)
        }
        // n <= 0 restores the default.
        for n: Int32 in [0, -1, .min] {
            ck_set_num_threads(5)
            ck_set_num_threads(n)
            XCTAssertEqual(ck_get_num_threads(), defaultCount, "after ck_set_num_threads(\(n))")
        }
    }

    /// A count above the maximum is refused with its error code and changes nothing; the
    /// maximum itself is taken.
    func testSetNumThreadsRefusesACountAboveTheMaximum() {
        defer { ck_set_num_threads(0) }
        let maximum = ck_max_num_threads()
        XCTAssertGreaterThanOrEqual(maximum, 256)
        XCTAssertEqual(ck_set_num_threads(3), 0)
        for n in [maximum + 1, .max] {
            XCTAssertEqual(ck_set_num_threads(n), CK_ERROR_TOO_MANY_THREADS, "n = \(n)")
            XCTAssertEqual(ck_get_num_threads(), 3, "after ck_set_num_threads(\(n))")
        }
        XCTAssertEqual(ck_set_num_threads(maximum), 0)
        XCTAssertEqual(ck_get_num_threads(), maximum)
    }
}
