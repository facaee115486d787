import Chronicle
import Foundation
import GRDB
import GRDBSQLite

/// A GRDB cached statement bound, stepped and read straight through libsqlite3, for the store's
/// hot paths (appends, event reads).
///
/// GRDB's `execute(arguments:)` and `Row` cursors box every value in a `DatabaseValue`, copy
/// strings and blobs, check the schema and register the statement's region for observation; at
/// one event per statement that costs as much as SQLite's own work. The store's statements need
/// none of it: they run inside transactions GRDB opened (so its autocommit tracking stays right),
/// on connections without transaction observers, and never change the schema.
///
/// For a query, use it as `let s = try RawStatement(db.cachedStatement(sql: …)); defer { s.reset() }`,
/// bind every parameter, then ``step()``. The reset matters: a statement left on a row keeps its
/// connection's read snapshot (and blocks checkpoints) until it is reset. A statement that
/// returns no row is bound and ``run()``, which resets it on success and failure alike.
/// ``init(_:)`` resets too, so an error half-way never poisons the next use.
struct RawStatement {
    let handle: SQLiteStatement
    private let statement: Statement

    init(_ statement: Statement) {
        self.statement = statement
        handle = statement.sqliteStatement
        sqlite3_reset(handle)
    }

    /// Ends the statement's run (releasing its read snapshot); bindings stay.
    func reset() {
        sqlite3_reset(handle)
    }

    // MARK: Binding (1-based, as SQLite's parameters)
    //
    // Each checks SQLite's answer: a value over SQLite's length limit (SQLITE_TOOBIG) or a
    // statement still running (SQLITE_MISUSE) must fail the call, never leave an old value bound.

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: Int32, _ value: Double) throws {
        try check(sqlite3_bind_double(handle, index, value))
    }

    func bindNull(_ index: Int32) throws {
        try check(sqlite3_bind_null(handle, index))
    }

    /// The number of `?` parameters.
    var parameterCount: Int32 { sqlite3_bind_parameter_count(handle) }

    func bind(_ index: Int32, _ value: String) throws {
        var value = value
        let code = value.withUTF8 { bytes in
            UnsafeRawBufferPointer(bytes).withMemoryRebound(to: CChar.self) { chars in
                if let start = chars.baseAddress {
                    return sqlite3_bind_text(handle, index, start, Int32(clamping: chars.count), sqliteTransient)
                }
                return sqlite3_bind_text(handle, index, "", 0, sqliteTransient)  // empty text, not NULL
            }
        }
        try check(code)
    }

    func bind(_ index: Int32, _ value: Data) throws {
        guard value.count <= Int(Int32.max) else { throw DatabaseError(resultCode: .SQLITE_TOOBIG, message: "blob of \(value.count) bytes", sql: statement.sql) }
        let code = value.withUnsafeBytes { bytes in
            // A zero-length blob must still be a blob, not NULL: SQLite binds a non-NULL pointer as one.
            sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), sqliteTransient)
        }
        try check(code)
    }

    func bind(_ index: Int32, _ value: Data?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    func bind(_ index: Int32, _ value: UUID) throws {
        var raw = value.uuid
        let code = withUnsafeBytes(of: &raw) { bytes in
            sqlite3_bind_blob(handle, index, bytes.baseAddress, 16, sqliteTransient)
        }
        try check(code)
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw error(code) }
    }

    private func error(_ code: Int32) -> DatabaseError {
        let connection = sqlite3_db_handle(handle)
        let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        let extended = connection.map { sqlite3_extended_errcode($0) } ?? code
        return DatabaseError(resultCode: ResultCode(rawValue: extended), message: message, sql: statement.sql)
    }

    // MARK: Stepping

    /// Advances to the next row: `true` when there is one, `false` when the statement is done.
    ///
    /// - Throws: `DatabaseError` with SQLite's result code and message (so
    ///   ``SQLiteErrorMapping`` and constraint checks see what GRDB would have thrown).
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let failure = error(code)
            sqlite3_reset(handle)
            throw failure
        }
    }

    /// Runs a statement that returns no row (an insert or update) to its end, then resets it so
    /// it can be bound again.
    func run() throws {
        while try step() {}
        sqlite3_reset(handle)
    }

    // MARK: Reading the current row (0-based, as SQLite's columns)

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    /// The column's blob as bytes in SQLite's row buffer (valid until the next step), `nil` if it
    /// is not a blob.
    func blob(_ column: Int32) -> UnsafeRawBufferPointer? {
        guard sqlite3_column_type(handle, column) == SQLITE_BLOB else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, column), count: count)
    }

    /// The column's integer, `nil` if it does not hold one.
    func int64(_ column: Int32) -> Int64? {
        sqlite3_column_type(handle, column) == SQLITE_INTEGER ? sqlite3_column_int64(handle, column) : nil
    }

    /// The column's text as its UTF-8 bytes (valid until the next step), `nil` if it is not text.
    func withText<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T? {
        guard sqlite3_column_type(handle, column) == SQLITE_TEXT else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let start = sqlite3_column_text(handle, column) else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        return body(UnsafeBufferPointer(start: start, count: count))
    }

    /// The column's text, `nil` if it is not text or not valid UTF-8.
    func string(_ column: Int32) -> String? {
        withText(column) { String(validating: $0, as: UTF8.self) } ?? nil
    }

    /// The column's blob as its bytes (valid until the next step), `nil` if it is not a blob.
    func withBlob<T>(_ column: Int32, _ body: (UnsafeRawBufferPointer) -> T) -> T? {
        blob(column).map(body)
    }

    /// The column's blob copied into `Data`, `nil` if it is not a blob.
    func data(_ column: Int32) -> Data? {
        withBlob(column) { bytes in
            guard let start = bytes.baseAddress, bytes.count > 0 else { return Data() }
            return Data(bytes: start, count: bytes.count)  // one memcpy (Data(bytes) goes through Sequence)
        }
    }
}

/// SQLite's `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the call returns.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

