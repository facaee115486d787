import Chronicle
import Foundation
public import HTTPTypes
public import Hummingbird

extension HTTPField.Name {
    /// `Chronicle-Min-Position`: the global position a query must reflect (read-your-writes).
    public static let chronicleMinPosition = HTTPField.Name("Chronicle-Min-Position")!
    /// `Chronicle-Position`: the position the answer reflects (the lowest checkpoint of the read
    /// models it read, or the store's head).
    public static let chroniclePosition = HTTPField.Name("Chronicle-Position")!
}

/// Read-your-writes for queries: when a request carries `Chronicle-Min-Position: P`, waits
/// (bounded) until every projection the route reads has processed position `P`, then runs the
/// route; if the wait runs out, answers 503 `notCaughtUp` with the current position in the JSON
/// body, never stale data.
///
/// A command answers with the global position of its events; a client that sends that position
/// back in `Chronicle-Min-Position` sees its own write in the read model. Without the header the
/// route answers at once with whatever the read model holds.
///
/// With no projections (the built-in store routes), it waits for the store's head instead.
/// Every answer carries `Chronicle-Position`: the position the data reflects at least.
///
/// Build it with ``ReadAPI/readYourWrites(reading:)-([ProjectionRunner])`` or mount routes
/// with ``ReadAPI/queries(_:reading:on:)-(_,[ProjectionRunner],_)``.
public struct ReadYourWritesMiddleware<Context: RequestContext>: RouterMiddleware {
    let projections: WatchedProjections
    let positions: PositionWaiter
    let timeout: Duration

    init(projections: WatchedProjections, positions: PositionWaiter, timeout: Duration) {
        self.projections = projections
        self.positions = positions
        self.timeout = timeout
    }

    /// Waits for `Chronicle-Min-Position` (if sent) before passing the request on; stamps `Chronicle-Position` on the answer.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let text = request.headers[.chronicleMinPosition] else {
            var response = try await next(request, context)
            if response.headers[.chroniclePosition] == nil, let position = try await positions.current(projections) {
                response.headers[.chroniclePosition] = String(position.value)
            }
            return response
        }
        let required = GlobalPosition(try RequestParameters.nonNegative(text.trimmingCharacters(in: .whitespaces), name: "Chronicle-Min-Position"))
        let reached = try await positions.wait(for: projections, toReach: required, timeout: timeout)
        guard reached.position >= required else {
            var details: [String: ReadAPIError.DetailValue] = [
                "position": .integer(reached.position.value),
                "requiredPosition": .integer(required.value),
            ]
            if let laggard = reached.laggard { details["projection"] = .string(laggard) }
            throw ReadAPIError(
                .notCaughtUp,
                "The read model \(reached.laggard.map { "'\($0)' " } ?? "")is at position \(reached.position), not yet at \(required), after waiting \(timeout). Retry shortly.",
                details: details,
                headers: [.retryAfter: "1"]
            )
        }
        var response = try await next(request, context)
        response.headers[.chroniclePosition] = String(reached.position.value)
        return response
    }
}

/// What a route's answers reflect: the store's head (the built-in routes), the projections a
/// query route reads by handle (asked directly, and only they), or by name (looked up in the
/// API's ``ProjectionCatalog``).
enum WatchedProjections: Sendable {
    case store
    case engines([ProjectionEngine])
    case names([String])

    init(_ runners: [any ProjectionRunner]) {
        self = runners.isEmpty ? .store : .engines(runners.map(\.engine))
    }

    init(names: [String]) {
        self = names.isEmpty ? .store : .names(names)
    }
}

/// Waits for projections (their engines, or through a ``ProjectionCatalog``) or for the store's
/// head (through its ``AppendNotifier``) to reach a position, without polling.
struct PositionWaiter: Sendable {
    let reader: any EventReader
    let notifier: AppendNotifier?
    let catalog: (any ProjectionCatalog)?

    struct Reached {
        /// The lowest position among what was waited for.
        var position: GlobalPosition
        /// The projection that had not caught up, if one had not.
        var laggard: String?
    }

    /// The position the watched projections (or the store) reflect now.
    func current(_ projections: WatchedProjections) async throws -> GlobalPosition? {
        switch projections {
        case .store:
            return try await reader.headPosition()
        case .engines(let engines):
            return engines.map { $0.status().position }.min()
        case .names(let names):
            guard let catalog else { return nil }
            let reports = try await catalog.projectionStatuses()
            return names.compactMap { name in reports.first(where: { $0.name == name })?.position }.min()
        }
    }

    func wait(for projections: WatchedProjections, toReach position: GlobalPosition, timeout: Duration) async throws -> Reached {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let watched: [(name: String, catalog: any ProjectionCatalog)]
        switch projections {
        case .store:
            return Reached(position: try await waitForHead(position, timeout: timeout))
        case .engines(let engines):
            watched = engines.map { ($0.name, $0) }
        case .names(let names):
            guard let catalog else {
                throw ReadAPIError(.internalError, "This route reads projections by name but the API was set up without a ProjectionCatalog: pass the runners themselves to queries(_:reading:on:).")
            }
            watched = names.map { ($0, catalog) }
        }
        var lowest: GlobalPosition?
        for (name, catalog) in watched {
            let remaining = max(.zero, clock.now.duration(to: deadline))
            guard let reached = try await catalog.waitUntil(projection: name, reaches: position, timeout: remaining) else {
                throw ReadAPIError(.internalError, "This route reads projection '\(name)', which the ProjectionCatalog does not know.")
            }
            if reached < position { return Reached(position: reached, laggard: name) }
            lowest = min(lowest ?? reached, reached)
        }
        return Reached(position: lowest ?? position)
    }

    /// Waits until the store's head is at or past `position`; returns the head when the wait ended.
    func waitForHead(_ position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition {
        let head = try await reader.headPosition()
        guard head < position, let notifier else { return head }
        _ = try await Deadline.run(within: timeout) {
            // `updates()` starts with the current head, so no commit slips between the check
            // above and the subscription.
            for await announced in notifier.updates() where announced >= position { return true }
            return false
        }
        return try await reader.headPosition()
    }
}

/// Runs an operation with a time limit.
enum Deadline {
    /// The operation's result, or `nil` if `timeout` elapsed first (the operation is then
    /// cancelled; it must honour cancellation).
    static func run<T: Sendable>(within timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }
}
