/// Where a projection runner reads events and learns that the head moved.
///
/// A runner reads pages with ``reader`` and, once caught up, sleeps until ``headUpdates`` yields
/// a head beyond its checkpoint: an in-process append wakes it at once through the store's
/// ``AppendNotifier``; appends by other processes are noticed by polling.
///
/// ```swift
/// let source = ProjectionSource.observing(store)                          // in-process only
/// let source = ProjectionSource.observing(store, pollInterval: .seconds(1)) // + other processes
/// ```
public struct ProjectionSource: Sendable {
    /// Reads the log.
    public let reader: any EventReader
    /// Starts a sequence of head positions (latest wins; it may skip values). Called once per run.
    public let headUpdates: @Sendable () -> AsyncStream<GlobalPosition>
    /// Where the source's polling sleeps and its tasks run (``RuntimeEnvironment/live`` unless simulated).
    public let environment: RuntimeEnvironment

    /// Creates a source from a reader and a head-update sequence factory.
    ///
    /// - Parameters:
    ///   - reader: reads the log.
    ///   - environment: where the source's tasks run and sleep.
    ///   - headUpdates: starts a sequence of head positions.
    public init(reader: some EventReader, environment: RuntimeEnvironment = .live, headUpdates: @escaping @Sendable () -> AsyncStream<GlobalPosition>) {
        self.reader = reader
        self.headUpdates = headUpdates
        self.environment = environment
    }

    /// In-process appends of `store` wake the runner at once; when `pollInterval` is set,
    /// ``EventReader/headPosition()`` is also polled at that interval, to notice appends by other
    /// processes. (The SQLite store offers cheaper polling on `PRAGMA data_version`.)
    ///
    /// - Parameters:
    ///   - store: the store to read and observe.
    ///   - pollInterval: how often to read the head as well (`nil`: never).
    ///   - environment: where the polling sleeps and the source's tasks run.
    public static func observing(_ store: some EventReader & AppendObservable, pollInterval: Duration? = nil, environment: RuntimeEnvironment = .live) -> ProjectionSource {
        ProjectionSource(reader: store, environment: environment) {
            HeadUpdateMerge.merge(store.appendNotifier.updates(), polling: pollInterval.map { interval in (store, interval) }, environment: environment)
        }
    }

    /// Only polling: the head is read every `interval` (for readers nobody notifies).
    ///
    /// - Parameters:
    ///   - reader: the log to read and poll.
    ///   - interval: how often to read the head.
    ///   - environment: where the polling sleeps and runs.
    public static func polling(_ reader: some EventReader, interval: Duration, environment: RuntimeEnvironment = .live) -> ProjectionSource {
        ProjectionSource(reader: reader, environment: environment) {
            HeadUpdateMerge.merge(nil, polling: (reader, interval), environment: environment)
        }
    }
}

/// Merges a notifier sequence with a head poller into one stream.
enum HeadUpdateMerge {
    static func merge(_ notifications: AsyncStream<GlobalPosition>?, polling: (reader: any EventReader, interval: Duration)?, environment: RuntimeEnvironment) -> AsyncStream<GlobalPosition> {
        let (stream, continuation) = AsyncStream.makeStream(of: GlobalPosition.self, bufferingPolicy: .bufferingNewest(1))
        var tasks: [Task<Void, Never>] = []
        if let notifications {
            tasks.append(environment.spawn {
                for await head in notifications { continuation.yield(head) }
            })
        }
        if let polling {
            tasks.append(environment.spawn {
                while !Task.isCancelled {
                    if let head = try? await polling.reader.headPosition() { continuation.yield(head) }
                    do { try await environment.sleep(polling.interval) } catch { return }
                }
            })
        }
        let all = tasks
        continuation.onTermination = { _ in for task in all { task.cancel() } }
        return stream
    }
}
