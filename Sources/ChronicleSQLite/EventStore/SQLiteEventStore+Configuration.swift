public import Chronicle
public import Foundation
public import Logging

extension SQLiteEventStore {
    /// How hard a commit tries to reach the disk before an append returns.
    public enum Durability: String, Sendable, Hashable {
        /// `PRAGMA synchronous = NORMAL` in WAL mode (the default). A committed append survives a
        /// crash of the process; a power cut or OS crash may lose the last commits (never corrupt
        /// the file). Commits do not wait for `fsync`, which makes them several times faster.
        case normal
        /// `PRAGMA synchronous = FULL`: every commit is flushed to disk (`fsync` of the WAL) before
        /// the append returns, so it also survives a power cut.
        case full
    }

    /// How a ``SQLiteEventStore`` opens and runs its database.
    ///
    /// ```swift
    /// var configuration = SQLiteEventStore.Configuration()
    /// configuration.durability = .full
    /// configuration.logger = logger
    /// let store = try SQLiteEventStore(path: "events.sqlite", configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// Commit durability; ``Durability/normal`` by default.
        public var durability: Durability = .normal
        /// How long a connection waits for a lock held by another connection or process before
        /// failing with ``EventStoreError/Code/databaseBusy``. 5 seconds by default.
        public var busyTimeout: Duration = .seconds(5)
        /// The most reader connections open at once (reads run in parallel and never wait for
        /// the writer). 4 by default.
        public var maximumReaderCount: Int = 4
        /// The most append calls coalesced into one transaction by group commit. 256 by default.
        public var maximumBatchSize: Int = 256
        /// Where the store logs opening, migrations and failures.
        public var logger: Logger = Logger(label: "chronicle.sqlite")
        /// Whether opening may create the store: a missing or empty file, or an empty SQLite
        /// database, gets Chronicle's schema (the default). Turn it off to open only an existing
        /// store, as read-only tools should: such a file then fails with
        /// ``EventStoreError/Code/notADatabase`` and nothing is written to it.
        public var createIfNeeded: Bool = true
        /// The clock that stamps `recordedAt` (inject a fixed clock in tests). Stored with
        /// millisecond precision.
        public var now: @Sendable () -> Date = { Date() }

        /// The default configuration.
        public init() {}

        /// A configuration with the given values.
        public init(
            durability: Durability = .normal, busyTimeout: Duration = .seconds(5), maximumReaderCount: Int = 4,
            maximumBatchSize: Int = 256, logger: Logger = Logger(label: "chronicle.sqlite"),
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.durability = durability
            self.busyTimeout = busyTimeout
            self.maximumReaderCount = maximumReaderCount
            self.maximumBatchSize = maximumBatchSize
            self.logger = logger
            self.now = now
        }

        var busyTimeoutSeconds: TimeInterval {
            let (seconds, attoseconds) = busyTimeout.components
            return max(0, Double(seconds) + Double(attoseconds) / 1e18)
        }

        /// The busy timeout as SQLite applies it (whole milliseconds).
        var busyTimeoutMilliseconds: Int { Int(busyTimeoutSeconds * 1000) }
    }

    /// What group commit has done since the store opened (the type both backends report).
    public typealias GroupCommitStatistics = Chronicle.GroupCommitStatistics
}
