/// A failure the ranks agreed on: every rank throws the same error, naming the rank where it
/// happened and what happened there.
public struct DistributedError: Error, Equatable, CustomStringConvertible {
    /// The rank that failed (the lowest, when several did).
    public let rank: Int
    /// What failed there.
    public let message: String

    public var description: String { "rank \(rank): \(message)" }
}
