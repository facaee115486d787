public import Foundation

/// The error projection runners throw (waiting, rebuilding, managing parked events).
///
/// Match on ``code``; ``projection`` and ``position`` carry the context.
///
/// ```swift
/// do {
///     try await orders.waitUntil(position: result.position, timeout: .seconds(2))
/// } catch let error as ProjectionError where error.code == .timeout {
///     // the read model has not caught up yet: answer 503/504, or read stale data knowingly
/// }
/// ```
public struct ProjectionError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. New codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case timeout, failed, closed, invalidConfiguration, invalidName, parkedEventNotFound
            case rebuildInProgress, applyFailed, storageFailure, incompatibleReadModel, alreadyRunning, checkpointAheadOfLog
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The checkpoint did not reach the awaited position in time. Nothing is wrong with the
        /// projection necessarily; it may just be behind (see ``ProjectionStatus/lag``).
        public static let timeout = Code(.timeout)
        /// The projection stopped after an event kept failing (policy ``FailurePolicy/Exhausted/stop``).
        /// Fix the projector, then resume or rebuild.
        public static let failed = Code(.failed)
        /// The projection was shut down while waiting.
        public static let closed = Code(.closed)
        /// A setting is out of range (page size, partitions…).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The projection's name is not usable (it names files: 1–100 of `A–Z a–z 0–9 _ - .`, not starting with `.`).
        public static let invalidName = Code(.invalidName)
        /// No parked event at that position.
        public static let parkedEventNotFound = Code(.parkedEventNotFound)
        /// A rebuild is already running for this projection.
        public static let rebuildInProgress = Code(.rebuildInProgress)
        /// Retrying a parked event failed again; it stays parked with its attempt count raised.
        public static let applyFailed = Code(.applyFailed)
        /// The read-model storage failed (I/O error, disk full, locked…). See ``underlying``.
        public static let storageFailure = Code(.storageFailure)
        /// The projection already runs: in this process (call `run()` once), or, for a command
        /// that needs to be the only runner (an offline rebuild), in another process.
        public static let alreadyRunning = Code(.alreadyRunning)
        /// A stored checkpoint is past the head of the log it reads: the event store was restored
        /// from an older backup (or the projection belongs to another store). Events appended from
        /// now on would take positions the checkpoint already passed and be skipped, so the
        /// projection stops instead. Delete its files (or reset its checkpoint) so it replays the
        /// log it reads now, then resume or restart it.
        public static let checkpointAheadOfLog = Code(.checkpointAheadOfLog)
        /// The read-model file was made by another projection or with other partitions. Rebuild it
        /// or point the projection at another directory.
        public static let incompatibleReadModel = Code(.incompatibleReadModel)

        /// The code's name, such as `timeout`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened and what to do.
    public var message: String
    /// The projection concerned, if any.
    public var projection: String?
    /// The global position concerned (awaited position, parked event…), if any.
    public var position: GlobalPosition?
    /// The lower-level error, if any.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, projection: String? = nil, position: GlobalPosition? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.projection = projection
        self.position = position
        self.underlying = underlying
    }

    /// The code, then the message, then the underlying error if any.
    public var description: String {
        var text = "\(code): \(message)"
        if let underlying { text += " (underlying: \(underlying))" }
        return text
    }
}

extension ProjectionError: LocalizedError {
    /// The same text as ``description``.
    public var errorDescription: String? { description }
}

extension ProjectionError.Code {
    /// Matches an error by code, so a `catch` can name the code alone:
    ///
    /// ```swift
    /// do { … } catch ProjectionError.Code.timeout { … }
    /// ```
    public static func ~= (code: ProjectionError.Code, error: any Error) -> Bool {
        (error as? ProjectionError)?.code == code
    }
}
