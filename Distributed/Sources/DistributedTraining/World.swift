import CKernels
import CMPI

/// The processes of an MPI job (its ranks): initializes MPI once, tells this process's rank
/// and the number of ranks, and finalizes MPI. It also learns which GEMM architecture each
/// rank's CPU uses: ranks of different kinds may round differently in the last bits, so a run
/// over them is reproducible but its ranks are not interchangeable (`hasMixedCPUKinds`).
///
/// ```swift
/// let world = World()
/// defer { world.finalize() }
/// if world.rank == 0 { print("\(world.size) ranks") }
/// ```
public final class World {
    /// This process's rank, `0..<size`.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    /// The GEMM architecture of each rank's CPU (`ck_gemm_arch_name`), indexed by rank.
    public let cpuKinds: [String]

    /// Initializes MPI (single-threaded: one thread per rank calls MPI). Stops when MPI was
    /// already initialized in this process: make one `World`.
    public init() {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        require(initialized == 0, "World: MPI is already initialized; make one World per process")
        MPI_Init(nil, nil)
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &rank)
        MPI_Comm_size(cmpi_comm_world(), &size)
        self.rank = Int(rank)
        self.size = Int(size)
        let kind = String(cString: ck_gemm_arch_name(ck_gemm_get_arch()))
        cpuKinds = World.gatheredStrings(kind, size: Int(size))
    }

    /// Whether the ranks' CPUs take different GEMM paths, so that their results may differ in
    /// the last bits.
    public var hasMixedCPUKinds: Bool { Set(cpuKinds).count > 1 }

    /// "rank 0: zen5, rank 1: avx2": which rank uses which GEMM architecture.
    public var cpuKindsDescription: String {
        cpuKinds.enumerated().map { "rank \($0.offset): \($0.element)" }.joined(separator: ", ")
    }

    /// Finalizes MPI. Call it once, after every rank's last collective operation.
    public func finalize() {
        MPI_Finalize()
    }

    /// Ends the whole job with `code` (MPI_Abort): for a rank that cannot go on and cannot
    /// tell the others in a collective operation.
    public func abort(code: Int32) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        fatalError("MPI_Abort returned")
    }

    // MARK: Collective operations (every rank calls them in the same order)

    /// Every rank's `values` (the same count on every rank), indexed by rank.
    func allGather(_ values: [Double]) -> [[Double]] {
        var all = [Double](repeating: 0, count: values.count * size)
        values.withUnsafeBufferPointer { send in
            all.withUnsafeMutableBufferPointer { receive in
                _ = MPI_Allgather(send.baseAddress, Int32(values.count), cmpi_double(),
                                  receive.baseAddress, Int32(values.count), cmpi_double(),
                                  cmpi_comm_world())
            }
        }
        return (0..<size).map { Array(all[$0 * values.count..<($0 + 1) * values.count]) }
    }

    /// `count` floats at `values` copied from rank `root` to every rank.
    func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, from root: Int) {
        var offset = 0
        while offset < count {
            let part = min(count - offset, Int(Int32.max))
            MPI_Bcast(values + offset, Int32(part), cmpi_float(), Int32(root), cmpi_comm_world())
            offset += part
        }
    }

    /// Rank `root`'s `text`, on every rank.
    func broadcast(_ text: String, from root: Int) -> String {
        var length = [Double(text.utf8.count)]
        length.withUnsafeMutableBufferPointer {
            _ = MPI_Bcast($0.baseAddress, 1, cmpi_double(), Int32(root), cmpi_comm_world())
        }
        var bytes = rank == root ? Array(text.utf8) : [UInt8](repeating: 0, count: Int(length[0]))
        bytes.withUnsafeMutableBufferPointer {
            _ = MPI_Bcast($0.baseAddress, Int32($0.count), cmpi_char(), Int32(root),
                          cmpi_comm_world())
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Every rank's `text`, indexed by rank (for short texts such as CPU kinds).
    private static func gatheredStrings(_ text: String, size: Int) -> [String] {
        let width = 64
        var bytes = [CChar](repeating: 0, count: width)
        for (index, byte) in text.utf8.prefix(width - 1).enumerated() {
            bytes[index] = CChar(bitPattern: byte)
        }
        var all = [CChar](repeating: 0, count: width * size)
        bytes.withUnsafeBufferPointer { send in
            all.withUnsafeMutableBufferPointer { receive in
                _ = MPI_Allgather(send.baseAddress, Int32(width), cmpi_char(),
                                  receive.baseAddress, Int32(width), cmpi_char(),
                                  cmpi_comm_world())
            }
        }
        return (0..<size).map { rank in
            let row = all[rank * width..<(rank + 1) * width].prefix { $0 != 0 }
            return String(decoding: row.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Sums `count` floats at `values` over the ranks, in place, so that every rank holds the
    /// same bits: in buckets of at most `bucketSize` floats, each bucket's elements are split
    /// into one chunk per rank; every rank sends chunk j to rank j (all-to-all), rank j adds
    /// its chunk's contributions in rank order 0, 1, ..., size − 1, and an all-gather copies
    /// the sums to every rank. Each element is summed once, in an order that depends on
    /// nothing but the rank count: MPI's own reductions promise neither.
    func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int, bucketSize: Int) {
        guard size > 1 else { return }
        var start = 0
        while start < count {
            let length = min(bucketSize, count - start)
            sumBucketAcrossRanks(values + start, count: length)
            start += length
        }
    }

    /// Scratch space for the other ranks' contributions to this rank's chunk, grown and
    /// reused.
    private var received: [Float] = []

    /// `sumAcrossRanks` for one bucket of `count` floats (at most Int32.max / size).
    private func sumBucketAcrossRanks(_ bucket: UnsafeMutablePointer<Float>, count: Int) {
        // Chunk j: counts[j] floats from displacements[j]; the first count % size chunks
        // hold one more.
        let counts = (0..<size).map { Int32(count / size + ($0 < count % size ? 1 : 0)) }
        var displacements = [Int32](repeating: 0, count: size)
        for j in 1..<size { displacements[j] = displacements[j - 1] + counts[j - 1] }
        let mine = Int(counts[rank])
        // Rank s's contribution to chunk `rank` arrives at received[s * mine]; this rank's
        // own stays in the bucket, so nothing is sent to or received from itself.
        let sentCounts = (0..<size).map { $0 == rank ? 0 : counts[$0] }
        let receivedCounts = (0..<size).map { Int32($0 == rank ? 0 : mine) }
        let receivedDisplacements = (0..<size).map { Int32($0 * mine) }
        if received.count < mine * size {
            received = [Float](repeating: 0, count: mine * size)
        }
        received.withUnsafeMutableBufferPointer { received in
            let chunks = received.baseAddress!
            _ = MPI_Alltoallv(bucket, sentCounts, displacements, cmpi_float(),
                              chunks, receivedCounts, receivedDisplacements, cmpi_float(),
                              cmpi_comm_world())
            // The sum ((c0 + c1) + c2) + ... of the ranks' contributions c0, c1, ... in rank
            // order, in place of this rank's own c_r (r = rank). Adding two floats is
            // commutative, bit for bit, so c_r + (c0 + ... + c_(r−1)) is the rank-order partial
            // sum up to r; the partial sum before r is formed in received[0] (ck_scaled_add's
            // y + 1 · x is y + x exactly).
            let sum = bucket + Int(displacements[rank])
            for source in 1..<max(rank, 1) {
                ck_scaled_add(Int64(mine), 1, chunks + source * mine, 1, chunks)
            }
            if rank > 0 { ck_scaled_add(Int64(mine), 1, chunks, 1, sum) }
            for source in (rank + 1)..<size {
                ck_scaled_add(Int64(mine), 1, chunks + source * mine, 1, sum)
            }
            _ = MPI_Allgatherv(cmpi_in_place(), 0, cmpi_float(),
                               bucket, counts, displacements, cmpi_float(), cmpi_comm_world())
        }
    }
}
