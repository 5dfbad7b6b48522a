#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fast, seedable random number generator (xoshiro256**, seeded through SplitMix64): the
/// same seed gives the same sequence on every machine.
///
/// ```swift
/// var generator = SeededGenerator(seed: 42)
/// let x = Float.random(in: 0..<1, using: &generator)
/// let z = generator.nextNormal()   // N(0, 1)
/// let saved = generator.state        // four words; SeededGenerator(state: saved) continues
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose sequence is determined by `seed`.
    public init(seed: UInt64) {
        var splitMix = seed
        func nextSplitMix() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        words = (nextSplitMix(), nextSplitMix(), nextSplitMix(), nextSplitMix())
    }

    /// The whole state: xoshiro256**'s four 64-bit words. `SeededGenerator(state:)` of it
    /// continues this generator's sequence exactly; training checkpoints save it.
    public var state: [UInt64] { [words.0, words.1, words.2, words.3] }

    /// A generator that continues the sequence of the generator whose `state` this is.
    /// `state` must hold four words, not all zero (a state xoshiro256** never reaches).
    public init(state: [UInt64]) {
        require(SeededGenerator.isValidState(state),
                "SeededGenerator: state \(state) is not four words, not all zero")
        words = (state[0], state[1], state[2], state[3])
    }

    /// Whether `state` can be a generator's: four words, not all zero.
    public static func isValidState(_ state: [UInt64]) -> Bool {
        state.count == 4 && state.contains { $0 != 0 }
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((words.1 &* 5) << 7 | (words.1 &* 5) >> 57) &* 9
        let shifted = words.1 << 17
        words.2 ^= words.0
        words.3 ^= words.1
        words.1 ^= words.2
        words.0 ^= words.3
        words.2 ^= shifted
        words.3 = words.3 << 45 | words.3 >> 19
        return result
    }

    /// A sample of the standard normal distribution N(0, 1) (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u1 = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
