public import Foundation

/// A projection's progress and health, as data (for Swift callers, the CLI and HTTP).
///
/// ```swift
/// let status = await orders.status()
/// print(status.state, status.position, status.head, status.lag, status.parkedCount)
/// ```
public struct ProjectionStatus: Sendable, Hashable, Codable {
    /// The projection's name.
    public var name: String
    /// What the runner is doing.
    public var state: ProjectionState
    /// The checkpoint: every event at or before this position has been applied (or parked). For a
    /// partitioned projection, the lowest partition checkpoint.
    public var position: GlobalPosition
    /// The store's head as last seen by the runner.
    public var head: GlobalPosition
    /// How many partitions the projection has (1 = unpartitioned).
    public var partitionCount: Int
    /// Each partition's checkpoint, by partition index.
    public var partitionPositions: [GlobalPosition]
    /// How many events are parked in the dead-letter table.
    public var parkedCount: Int
    /// The last error applying an event or reading the store threw, if any since the start.
    public var lastError: String?
    /// Progress of the rebuild in progress, if any.
    public var rebuild: RebuildProgress?
    /// The circuit breaker of the endpoint the runner calls, for runners that call one (an
    /// outbound relay); `nil` for the others.
    public var circuit: CircuitStatus?

    /// Creates a status value.
    public init(
        name: String, state: ProjectionState, position: GlobalPosition, head: GlobalPosition, partitionCount: Int = 1,
        partitionPositions: [GlobalPosition]? = nil, parkedCount: Int = 0, lastError: String? = nil, rebuild: RebuildProgress? = nil,
        circuit: CircuitStatus? = nil
    ) {
        self.name = name
        self.state = state
        self.position = position
        self.head = head
        self.partitionCount = partitionCount
        self.partitionPositions = partitionPositions ?? [position]
        self.parkedCount = parkedCount
        self.lastError = lastError
        self.rebuild = rebuild
        self.circuit = circuit
    }

    /// How many positions the checkpoint is behind the head (0 when caught up).
    public var lag: Int64 { Swift.max(0, head.value - position.value) }

    private enum CodingKeys: String, CodingKey {
        case name, state, position, head, lag, partitionCount, partitionPositions, parkedCount, lastError, rebuild, circuit
    }

    /// Decodes a status; missing partition, parked-count, error, rebuild and circuit fields take their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        state = try c.decode(ProjectionState.self, forKey: .state)
        position = try c.decode(GlobalPosition.self, forKey: .position)
        head = try c.decode(GlobalPosition.self, forKey: .head)
        partitionCount = try c.decodeIfPresent(Int.self, forKey: .partitionCount) ?? 1
        partitionPositions = try c.decodeIfPresent([GlobalPosition].self, forKey: .partitionPositions) ?? [position]
        parkedCount = try c.decodeIfPresent(Int.self, forKey: .parkedCount) ?? 0
        lastError = try c.decodeIfPresent(String.self, forKey: .lastError)
        rebuild = try c.decodeIfPresent(RebuildProgress.self, forKey: .rebuild)
        circuit = try c.decodeIfPresent(CircuitStatus.self, forKey: .circuit)
    }

    /// Encodes every property, and ``lag`` too (for readers of the JSON).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(state, forKey: .state)
        try c.encode(position, forKey: .position)
        try c.encode(head, forKey: .head)
        try c.encode(lag, forKey: .lag)
        try c.encode(partitionCount, forKey: .partitionCount)
        try c.encode(partitionPositions, forKey: .partitionPositions)
        try c.encode(parkedCount, forKey: .parkedCount)
        try c.encodeIfPresent(lastError, forKey: .lastError)
        try c.encodeIfPresent(rebuild, forKey: .rebuild)
        try c.encodeIfPresent(circuit, forKey: .circuit)
    }
}

/// How far a rebuild has come.
public struct RebuildProgress: Sendable, Hashable, Codable {
    /// Events read and applied (or skipped) by the rebuild so far: its checkpoint.
    public var eventsDone: Int64
    /// The head when last measured: the events the rebuild must get through.
    public var eventsTotal: Int64
    /// Average events per second since the rebuild started.
    public var eventsPerSecond: Double
    /// When the rebuild started.
    public var startedAt: Date
    /// When the rebuild swapped the new read model in, if it has.
    public var finishedAt: Date?

    /// Creates a progress value.
    public init(eventsDone: Int64, eventsTotal: Int64, eventsPerSecond: Double, startedAt: Date, finishedAt: Date? = nil) {
        self.eventsDone = eventsDone
        self.eventsTotal = eventsTotal
        self.eventsPerSecond = eventsPerSecond
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// `eventsDone / eventsTotal` in `0...1` (1 when there is nothing to do).
    public var fractionDone: Double {
        eventsTotal <= 0 ? 1 : Swift.min(1, Double(eventsDone) / Double(eventsTotal))
    }
}
