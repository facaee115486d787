/// How a projection splits the log between independent workers, each with its own checkpoint.
///
/// With `count` partitions, an event goes to partition `hash(streamID) % count`, so all events of
/// one stream go to the same partition, in order. Events of different streams may be applied in a
/// different order than the log's: partition only projectors whose effect per stream does not
/// depend on other streams. The hash (64-bit FNV-1a over the stream id's UTF-8 bytes) is stable
/// across processes and releases.
public struct ProjectionPartitioning: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The number of partitions (1 = unpartitioned).
    public let count: Int

    /// One partition: every event in log order.
    public static let none = ProjectionPartitioning(uncheckedCount: 1)

    /// `count` partitions by stream.
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidConfiguration`` unless `1...1024`.
    public static func byStream(_ count: Int) throws(ProjectionError) -> ProjectionPartitioning {
        guard (1...1024).contains(count) else {
            throw ProjectionError(.invalidConfiguration, "A projection can have 1 to 1024 partitions, not \(count).")
        }
        return ProjectionPartitioning(uncheckedCount: count)
    }

    private init(uncheckedCount: Int) { self.count = uncheckedCount }

    /// The partition of `stream`, in `0..<count`.
    public func partition(of stream: StreamID) -> Int {
        if count == 1 { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in stream.rawValue.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(count))
    }

    /// `none`, or `byStream(N)`.
    public var description: String { count == 1 ? "none" : "byStream(\(count))" }

    /// Decodes the partition count; outside `1...1024` it is `DecodingError.dataCorrupted`.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(Int.self)
        guard (1...1024).contains(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "partition count \(raw)"))
        }
        self.count = raw
    }

    /// Encodes the partition count as an integer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(count)
    }
}
