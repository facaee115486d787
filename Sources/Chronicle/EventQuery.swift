import Foundation

/// The rules for event tags (``EventData/tags``): short strings such as `course:c1` or
/// `username:ada` that index an event beyond its stream, for ``EventQuery`` reads and
/// ``AppendCondition`` checks (dynamic consistency boundaries).
///
/// A tag is 1 to ``maximumLength`` bytes of UTF-8 with no whitespace, no control character and
/// no comma (commas separate tags on the command line and in the HTTP API); an event carries at
/// most ``maximumPerEvent`` distinct tags. Tags are compared byte for byte (`Course:c1` and
/// `course:c1` differ).
public enum EventTags {
    /// The most bytes (UTF-8) one tag may have.
    public static let maximumLength = 128
    /// The most tags one event may carry.
    public static let maximumPerEvent = 32

    /// Why `tag` cannot be stored, or `nil` if it can.
    public static func problem(with tag: String) -> String? {
        if tag.isEmpty { return "a tag is empty" }
        let bytes = tag.utf8
        if bytes.count > maximumLength { return "tag \(tag.prefix(40).debugDescription)… is longer than \(maximumLength) bytes" }
        if bytes.contains(UInt8(ascii: ",")) { return "tag \(tag.debugDescription) contains a comma" }
        // Printable ASCII other than space (the usual tag) needs no further check.
        if bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return nil }
        if tag.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            return "tag \(tag.debugDescription) contains whitespace or a control character"
        }
        return nil
    }

    /// Why `tags` (one event's, or one query item's) cannot be used, or `nil` if they can.
    public static func problem(with tags: [String]) -> String? {
        if tags.count > maximumPerEvent { return "it has \(tags.count) tags, more than \(maximumPerEvent)" }
        for tag in tags {
            if let problem = problem(with: tag) { return problem }
        }
        if tags.count > 1 && Set(tags).count != tags.count { return "a tag appears twice" }
        return nil
    }
}

/// Which events a read or an ``AppendCondition`` is about: by event type and tag, as in the
/// dynamic consistency boundary specification (dcb.events).
///
/// A query is either ``all`` (every event) or one or more ``Item``s; an event matches when it
/// matches **any** item. An event matches an item when its type is **any** of the item's types
/// (or the item names no type) and it carries **all** of the item's tags (or the item names no
/// tag).
///
/// ```swift
/// // Events about course c1, or subscriptions of student s1.
/// let query = EventQuery([
///     .init(tags: ["course:c1"]),
///     .init(types: ["StudentSubscribed"], tags: ["student:s1"]),
/// ])
/// let events = try await store.readEvents(matching: query, after: .start, limit: 1000)
/// ```
///
/// Bounds: at most ``maximumItems`` items, each with at most ``EventTags/maximumPerEvent`` tags
/// and ``maximumTypesPerItem`` types. ``validate()`` refuses the rest with
/// ``EventStoreError/Code/invalidQuery``.
public struct EventQuery: Sendable, Hashable, Codable, CustomStringConvertible {
    /// One alternative of a query: any of its types, all of its tags.
    public struct Item: Sendable, Hashable, Codable {
        /// The event types this item accepts (any of them); empty accepts every type.
        public var types: [String]
        /// The tags an event must all carry; empty requires none.
        public var tags: [String]

        /// Creates an item. Give at least one type or one tag (an item with neither would match
        /// every event: use ``EventQuery/all`` for that).
        public init(types: [String] = [], tags: [String] = []) {
            self.types = types
            self.tags = tags
        }

        /// Whether an event of `type` carrying `tags` matches this item.
        public func matches(type: String, tags eventTags: [String]) -> Bool {
            if !types.isEmpty && !types.contains(type) { return false }
            return tags.allSatisfy { eventTags.contains($0) }
        }
    }

    /// The most items one query may have.
    public static let maximumItems = 64
    /// The most types one item may name.
    public static let maximumTypesPerItem = 32

    /// The items (empty only for ``all``).
    public let items: [Item]
    /// Whether this is ``all``.
    public let matchesEverything: Bool

    /// A query matching the events that match any of `items`. Pass at least one item
    /// (``validate()`` refuses an empty list: use ``all`` to mean every event).
    public init(_ items: [Item]) {
        self.items = items
        self.matchesEverything = false
    }

    /// A query with one item: events of any of `types` (or of every type when empty) carrying
    /// all of `tags`.
    public init(types: [String] = [], tags: [String] = []) {
        self.init([Item(types: types, tags: tags)])
    }

    private init(everything: ()) {
        self.items = []
        self.matchesEverything = true
    }

    /// The query matching every event.
    public static let all = EventQuery(everything: ())

    /// Whether an event of `type` carrying `tags` matches.
    public func matches(type: String, tags: [String]) -> Bool {
        matchesEverything || items.contains { $0.matches(type: type, tags: tags) }
    }

    /// Whether `event` matches.
    public func matches(_ event: RecordedEvent) -> Bool {
        matches(type: event.type, tags: event.tags)
    }

    /// Checks the query is well formed and within bounds.
    ///
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidQuery`` (a query with
    ///   no items that is not ``all``, an item with neither types nor tags, too many items, types
    ///   or tags, an invalid tag or type name); its ``EventStoreError/query`` is this query.
    public func validate() throws(EventStoreError) {
        if matchesEverything { return }
        func refuse(_ problem: String) -> EventStoreError {
            EventStoreError(.invalidQuery, "The event query \(self) is invalid: \(problem). Nothing was read or written.", query: self)
        }
        if items.isEmpty { throw refuse("it has no items (use EventQuery.all to match every event)") }
        if items.count > Self.maximumItems { throw refuse("it has \(items.count) items, more than \(Self.maximumItems)") }
        for (index, item) in items.enumerated() {
            if item.types.isEmpty && item.tags.isEmpty { throw refuse("item \(index + 1) names neither a type nor a tag") }
            if item.types.count > Self.maximumTypesPerItem { throw refuse("item \(index + 1) names \(item.types.count) types, more than \(Self.maximumTypesPerItem)") }
            for type in item.types {
                if let problem = EventData.typeProblem(type) { throw refuse("item \(index + 1): a type is invalid (\(problem))") }
            }
            if let problem = EventTags.problem(with: item.tags) { throw refuse("item \(index + 1): \(problem)") }
        }
    }

    /// The one-item query the command line and the HTTP API take: `tags` all of the tags
    /// separated by commas (`course:c1,student:s1`), `types` any of the types separated by
    /// commas; either may be `nil`, not both.
    ///
    /// - Throws: ``EventStoreError/Code/invalidQuery`` when both are `nil` or either is malformed
    ///   (an empty name, a tag breaking ``EventTags``' rules, too many).
    public static func parse(tags: String?, types: String?) throws(EventStoreError) -> EventQuery {
        func split(_ text: String?) -> [String] {
            text.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        }
        let query = EventQuery(types: split(types), tags: split(tags))
        try query.validate()
        return query
    }

    /// `all`, or the items as `[types: A|B tags: t1+t2, …]`.
    public var description: String {
        if matchesEverything { return "all" }
        let parts = items.map { item in
            var text: [String] = []
            if !item.types.isEmpty { text.append("types: " + item.types.joined(separator: "|")) }
            if !item.tags.isEmpty { text.append("tags: " + item.tags.joined(separator: "+")) }
            return "(" + text.joined(separator: " ") + ")"
        }
        return "[" + parts.joined(separator: " or ") + "]"
    }

    private enum CodingKeys: String, CodingKey { case items, all }

    /// Decodes `{"all": true}` or `{"items": [{"types": […], "tags": […]}, …]}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if try container.decodeIfPresent(Bool.self, forKey: .all) == true {
            self = .all
        } else {
            self.init(try container.decodeIfPresent([Item].self, forKey: .items) ?? [])
        }
    }

    /// Encodes `{"all": true}` or `{"items": […]}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if matchesEverything { try container.encode(true, forKey: .all) } else { try container.encode(items, forKey: .items) }
    }
}

/// The condition of a conditional append: fail if any event matching ``failIfEventsMatch``
/// was stored after ``after``.
///
/// A decision reads the events matching a query up to some position, decides, and appends with
/// this condition: the append succeeds only if nothing it depended on changed meanwhile. The
/// store checks it under its write lock, in the append's transaction, so of two racing
/// decisions over the same events exactly one commits; the other fails with
/// ``EventStoreError/Code/appendConditionFailed`` (nothing written) and decides again.
///
/// ```swift
/// let condition = AppendCondition(failIfEventsMatch: EventQuery(tags: ["username:ada"]), after: nil)
/// try await store.append([StreamAppend([registered], to: "user-7", expectedVersion: .noStream, condition: condition)])
/// ```
public struct AppendCondition: Sendable, Hashable, Codable {
    /// The events that must not have appeared.
    public var failIfEventsMatch: EventQuery
    /// The position the decision read up to; `nil` means no matching event may exist at all.
    public var after: GlobalPosition?

    /// Creates a condition: fail if an event matching `query` is stored after `after` (anywhere
    /// when `after` is `nil`).
    public init(failIfEventsMatch query: EventQuery, after: GlobalPosition?) {
        self.failIfEventsMatch = query
        self.after = after
    }
}
