/// Which events of the log a consumer sees: by category and by event type.
///
/// The filter is applied by the engine before a page reaches the consumer, so a projector is
/// never called for events it does not handle; its checkpoint still moves past them. A filter of a
/// single category (and no types) reads that category's index instead of the whole log.
///
/// ```swift
/// let orders = ProjectionFilter(categories: ["order"])
/// let placed = ProjectionFilter(eventTypes: ["OrderPlaced", "OrderCancelled"])
/// orders.includes(event)
/// ```
public struct ProjectionFilter: Sendable, Hashable, CustomStringConvertible {
    /// The categories whose events pass, or `nil` for every category.
    public var categories: Set<String>?
    /// The event types that pass, or `nil` for every type.
    public var eventTypes: Set<String>?

    /// Every event.
    public static let all = ProjectionFilter()

    /// Creates a filter; `nil` means no restriction on that axis. An event passes when it matches both.
    public init(categories: Set<String>? = nil, eventTypes: Set<String>? = nil) {
        self.categories = categories
        self.eventTypes = eventTypes
    }

    /// Whether `event` passes.
    @inline(__always)
    public func includes(_ event: RecordedEvent) -> Bool {
        if let categories, !categories.contains(event.streamID.category) { return false }
        if let eventTypes, !eventTypes.contains(event.type) { return false }
        return true
    }

    /// Parses event types as users write them, `OrderPlaced,OrderPaid`: the one parser behind the
    /// HTTP API's `type=` parameter (`/feed`, `/all`) and the `chronicle` command's `--type`.
    ///
    /// - Returns: the types, or `nil` when `text` has an empty name (`A,,B`, a trailing comma) or a
    ///   name longer than 255 bytes.
    public static func eventTypes(parsing text: String) -> Set<String>? {
        let types = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !types.isEmpty, types.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 255 }) else { return nil }
        return Set(types)
    }

    /// What ``eventTypes(parsing:)`` accepts, for error messages.
    public static let eventTypesSyntax = "event types separated by commas, none empty"

    /// Whether every event passes.
    public var isEmpty: Bool { categories == nil && eventTypes == nil }

    /// The one category this filter reads, when it can use the category's index.
    var singleCategory: String? {
        guard let categories, categories.count == 1, eventTypes == nil else { return nil }
        return categories.first
    }

    /// `all`, or the categories and types, sorted.
    public var description: String {
        if isEmpty { return "all" }
        var parts: [String] = []
        if let categories { parts.append("categories: \(categories.sorted().joined(separator: ","))") }
        if let eventTypes { parts.append("types: \(eventTypes.sorted().joined(separator: ","))") }
        return parts.joined(separator: "; ")
    }
}

/// Where a projection that has never run starts reading the log. Once it has a checkpoint, the
/// checkpoint decides; a rebuild replays from the same start.
public enum ProjectionStart: Sendable, Hashable {
    /// From the first event (the default).
    case beginning
    /// From the head when the projection first runs: only events appended after that.
    case now
    /// After the given position.
    case after(GlobalPosition)
}
