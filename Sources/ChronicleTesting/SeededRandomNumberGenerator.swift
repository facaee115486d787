/// A seedable pseudo-random generator (SplitMix64): the same seed gives the same values on every
/// run and platform, so a randomized test that fails can be replayed from the seed it printed.
///
/// ```swift
/// var random = SeededRandomNumberGenerator(seed: 42)
/// let pageSize = Int.random(in: 1...100, using: &random)
/// ```
///
/// Not for anything secret: the values are predictable from the seed.
public struct SeededRandomNumberGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose values are determined by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 pseudo-random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
