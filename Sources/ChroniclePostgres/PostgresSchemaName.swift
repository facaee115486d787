public import Chronicle

/// The PostgreSQL schema a Chronicle store lives in, such as `chronicle` (the default).
///
/// Several stores (tenants, test runs) can share one database in separate schemas. A schema
/// name is 1 to 50 characters `a-z`, `0-9` and `_`, starting with a letter or `_`: it is spliced
/// into statements (identifiers cannot be bound), so anything else is refused.
///
/// ```swift
/// let schema = try PostgresSchemaName("billing")
/// ```
public struct PostgresSchemaName: Hashable, Sendable, CustomStringConvertible {
    /// The schema name as used in SQL.
    public let rawValue: String

    /// The default schema, `chronicle`.
    public static let chronicle = PostgresSchemaName(validated: "chronicle")

    /// Validates a schema name.
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidArgument`` when the
    ///   name is empty, longer than 50 characters, or has characters other than `a-z0-9_`.
    public init(_ rawValue: String) throws(EventStoreError) {
        let valid = !rawValue.isEmpty && rawValue.utf8.count <= 50
            && rawValue.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
            && !(rawValue.utf8.first! >= 0x30 && rawValue.utf8.first! <= 0x39)
            && !rawValue.hasPrefix("pg_")
        guard valid else {
            throw EventStoreError(.invalidArgument, "Invalid PostgreSQL schema name \(rawValue.debugDescription): use 1 to 50 characters a-z, 0-9 and _, starting with a letter or _ (not pg_).")
        }
        self.rawValue = rawValue
    }

    private init(validated: String) { rawValue = validated }

    /// The schema name as given.
    public var description: String { rawValue }
}
