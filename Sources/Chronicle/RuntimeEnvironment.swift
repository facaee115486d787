public import Foundation

/// Where Chronicle's asynchronous machinery takes its time, its waits, its randomness and the
/// executor of the tasks it starts: the real ones in production (``live``), a virtual clock and a
/// seeded scheduler under the deterministic simulator of ChronicleTesting.
///
/// The projection engine (``ProjectionEngine/Options/environment``), its read-your-writes waits
/// and the polling of a ``ProjectionSource`` read nothing else, so the same code runs in
/// production and in a simulation: there is no simulation-only copy of the engine.
///
/// ```swift
/// var options = ProjectionEngine.Options(pageSize: 100)
/// options.environment = .live  // the default: wall clock, Task.sleep, the global executor
/// ```
public struct RuntimeEnvironment: Sendable {
    /// The wall clock: stamps parked events, rebuild progress and recorded events.
    public var now: @Sendable () -> Date
    /// Waits for a duration (retry backoff, timeouts, polling intervals); throws
    /// `CancellationError` when the waiting task is cancelled.
    public var sleep: @Sendable (Duration) async throws -> Void
    /// 64 random bits, for anything that needs chance (jitter, sampling).
    public var random: @Sendable () -> UInt64
    /// Where the tasks Chronicle starts on its own (``spawn(_:)``) run; `nil` is the global
    /// concurrent executor.
    public var taskExecutor: (any TaskExecutor)?

    /// Creates an environment from its parts.
    ///
    /// - Parameters:
    ///   - now: the wall clock.
    ///   - sleep: the wait, cancellable.
    ///   - random: a source of 64 random bits.
    ///   - taskExecutor: the executor of the tasks started with ``spawn(_:)`` (`nil`: the global one).
    public init(
        now: @escaping @Sendable () -> Date, sleep: @escaping @Sendable (Duration) async throws -> Void,
        random: @escaping @Sendable () -> UInt64, taskExecutor: (any TaskExecutor)? = nil
    ) {
        self.now = now
        self.sleep = sleep
        self.random = random
        self.taskExecutor = taskExecutor
    }

    /// The real world: `Date()`, `Task.sleep(for:)`, the system's random generator and the global
    /// concurrent executor.
    public static let live = RuntimeEnvironment(
        now: { Date() }, sleep: { try await Task.sleep(for: $0) }, random: { UInt64.random(in: .min ... .max) }
    )

    /// Starts an unstructured task on ``taskExecutor`` (Chronicle never calls `Task {}` directly in
    /// the code a simulation drives, so the simulator's scheduler runs every job).
    ///
    /// - Parameter operation: the task's work.
    /// - Returns: the task, to cancel it.
    @discardableResult
    public func spawn(_ operation: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task(executorPreference: taskExecutor, operation: operation)
    }
}
