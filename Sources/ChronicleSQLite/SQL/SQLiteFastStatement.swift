public import Chronicle
public import Foundation
public import GRDB

/// A cached statement that a projector runs once per event, bound straight through SQLite.
///
/// GRDB's `execute(arguments:)` boxes each value in a `DatabaseValue`, builds a
/// `StatementArguments` array and runs its observation and schema bookkeeping on every call; in a
/// projector's hot loop (one upsert per event) that costs more than SQLite's own work. This binds
/// each value with `sqlite3_bind_*` and steps the statement, nothing else. Use it inside
/// ``SQLiteProjector/apply(_:in:)`` or any GRDB write, for statements that change rows (`INSERT`,
/// `UPDATE`, `DELETE`, upserts), not for schema changes.
///
/// ```swift
/// func apply(_ event: RecordedEvent, in db: Database) throws {
///     let deposit = try codec.decode(event)
///     try SQLiteFastStatement(db, sql: """
///         INSERT INTO balance (account, total) VALUES (?, ?)
///         ON CONFLICT (account) DO UPDATE SET total = total + excluded.total
///         """).execute(event.streamID, deposit.amount)
/// }
/// ```
///
/// Values are bound in order to the statement's `?` parameters; their count must match (else
/// ``execute(_:)`` throws, before running anything). Errors are GRDB's `DatabaseError`s, with
/// SQLite's result code (a constraint violation is `.SQLITE_CONSTRAINT`), so the runner's failure
/// policy sees them like any other.
public struct SQLiteFastStatement {
    private let raw: RawStatement
    private let parameterCount: Int32

    /// The statement for `sql`, prepared once per connection and cached by GRDB.
    public init(_ db: Database, sql: String) throws {
        raw = try RawStatement(db.cachedStatement(sql: sql))
        parameterCount = raw.parameterCount
    }

    /// Binds `values` to the statement's parameters, in order, and runs it to completion.
    ///
    /// - Throws: `DatabaseError` (`.SQLITE_MISUSE` when the number of values is not the number of
    ///   parameters; SQLite's own error when the statement fails).
    public func execute<each Value: SQLiteBindable>(_ values: repeat each Value) throws {
        var index: Int32 = 0
        for value in repeat each values {
            index += 1
            guard index <= parameterCount else { break }
            try value.bind(to: SQLiteBinding(statement: raw, index: index))
        }
        guard index == parameterCount else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the statement has \(parameterCount) parameters but \(index) values were given")
        }
        try raw.run()
    }
}

/// One parameter of a ``SQLiteFastStatement``, for ``SQLiteBindable`` types to bind themselves to.
public struct SQLiteBinding {
    let statement: RawStatement
    let index: Int32

    /// Binds an integer.
    public func bind(_ value: Int64) throws { try statement.bind(index, value) }
    /// Binds a double.
    public func bind(_ value: Double) throws { try statement.bind(index, value) }
    /// Binds text.
    public func bind(_ value: String) throws { try statement.bind(index, value) }
    /// Binds a blob.
    public func bind(_ value: Data) throws { try statement.bind(index, value) }
    /// Binds a UUID as its 16 bytes (a blob, as GRDB stores UUIDs).
    public func bind(_ value: UUID) throws { try statement.bind(index, value) }
    /// Binds NULL.
    public func bindNull() throws { try statement.bindNull(index) }
}

/// A value a ``SQLiteFastStatement`` can bind: integers, `Double`, `Bool` (as 0/1), `String`,
/// `Data`, `UUID` (as its 16 bytes, as GRDB stores it), optionals of these (`nil` binds
/// NULL), and Chronicle's `StreamID` (text), `StreamVersion` and `GlobalPosition` (integers).
public protocol SQLiteBindable {
    /// Binds the value to `binding`'s parameter.
    func bind(to binding: SQLiteBinding) throws
}

extension Int: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(Int64(self)) }
}

extension Int64: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(self) }
}

extension Int32: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(Int64(self)) }
}

extension Bool: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(Int64(self ? 1 : 0)) }
}

extension Double: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(self) }
}

extension String: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(self) }
}

extension Data: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(self) }
}

extension UUID: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(self) }
}

extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws {
        if let self { try self.bind(to: binding) } else { try binding.bindNull() }
    }
}

extension StreamID: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(rawValue) }
}

extension StreamVersion: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(value) }
}

extension GlobalPosition: SQLiteBindable {
    public func bind(to binding: SQLiteBinding) throws { try binding.bind(value) }
}
