public import Chronicle
public import ServiceLifecycle

/// Runs several read models concurrently as one ServiceLifecycle `Service`, and finds them by name
/// (for the HTTP API and the CLI).
///
/// ```swift
/// let projections = try SQLiteProjectionGroup([orders, customers])
/// let services = ServiceGroup(services: [projections, httpServer], logger: logger)
/// try await services.run()
/// let statuses = await projections.statuses()
/// ```
public final class SQLiteProjectionGroup: Service, Sendable {
    /// The read models, in the order given.
    public let readModels: [SQLiteReadModel]
    private let byName: [String: SQLiteReadModel]

    /// Groups read models.
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidConfiguration`` if two share a name.
    public init(_ readModels: [SQLiteReadModel]) throws {
        var byName: [String: SQLiteReadModel] = [:]
        for model in readModels {
            guard byName.updateValue(model, forKey: model.name) == nil else {
                throw ProjectionError(.invalidConfiguration, "Two projections are named \(model.name).", projection: model.name)
            }
        }
        self.readModels = readModels
        self.byName = byName
    }

    /// The read model named `name`, if any.
    public subscript(name: String) -> SQLiteReadModel? { byName[name] }

    /// Every read model's status, in the order given.
    public func statuses() async -> [ProjectionStatus] {
        var result: [ProjectionStatus] = []
        for model in readModels { result.append(await model.status()) }
        return result
    }

    /// Runs every read model until graceful shutdown or cancellation.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for model in readModels {
                group.addTask { try await model.run() }
            }
        }
    }
}
