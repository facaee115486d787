public import Chronicle
import Foundation
import GRDB

extension SQLiteEventStore {
    /// Appends any number of requests in **one** transaction: all of them commit together when
    /// `body` returns, none of them when it throws (or when one append failed).
    ///
    /// For bulk loads that must be all-or-nothing, such as `chronicle import`: `body` can read its
    /// input and append as it goes, so memory stays bounded by what it holds, not by the size of
    /// the import; the transaction itself grows in the write-ahead log on disk.
    ///
    /// ```swift
    /// let written = try store.appendInOneTransaction { transaction in
    ///     while let (stream, events) = try input.next() {
    ///         _ = try transaction.append(StreamAppend(events, to: stream, expectedVersion: .any))
    ///     }
    ///     return transaction.eventsWritten
    /// }
    /// ```
    ///
    /// `body` runs synchronously on the calling thread, which it blocks, and holds the store's
    /// write lock until it returns: appends of this store instance wait, and other processes'
    /// appends wait up to their busy timeout. Keep it to batch jobs. Idempotent replays behave as
    /// in ``append(_:)``: a request whose ids are already stored with the same content returns its
    /// original result (``AppendResult/wasAlreadyStored``) and writes nothing.
    ///
    /// - Returns: `body`'s value, after the commit.
    /// - Throws: the first failed append's ``EventStoreError`` (everything rolled back), any error
    ///   `body` throws (everything rolled back), or an ``EventStoreError`` when the transaction
    ///   cannot begin or commit (then nothing was written either).
    public func appendInOneTransaction<T>(_ body: (inout TransactionAppender) throws -> T) throws -> T {
        try checkOpen()
        let recordedAt = SQLiteValues.milliseconds(configuration.now())
        let (value, head): (T, GlobalPosition?)
        do {
            (value, head) = try pool.writeWithoutTransaction { db in
                try SQLiteAppendTransaction.runAll(in: db, path: path, recordedAt: recordedAt) { transaction in
                    var appender = TransactionAppender(transaction: transaction)
                    defer { transaction = appender.transaction }
                    let value = try body(&appender)
                    if let failure = appender.failure { throw failure }
                    return value
                }
            }
        } catch let error as DatabaseError {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Append")
        }
        if let head { appendNotifier.notify(head: head) }
        return value
    }

    /// The appends of one ``SQLiteEventStore/appendInOneTransaction(_:)`` call.
    public struct TransactionAppender {
        var transaction: SQLiteAppendTransaction
        /// The first failure: the transaction rolls back even if `body` catches it.
        var failure: EventStoreError?
        /// Events written so far in this transaction (replays of stored events not counted).
        public private(set) var eventsWritten = 0

        init(transaction: SQLiteAppendTransaction) {
            self.transaction = transaction
        }

        /// Appends `request` inside the transaction (visible to later appends of the same
        /// transaction, to nobody else until it commits).
        ///
        /// - Throws: ``EventStoreError`` as ``SQLiteEventStore/append(_:)`` does. After a failure
        ///   the whole transaction rolls back, even if the error is caught: later appends throw
        ///   the same error.
        public mutating func append(_ request: StreamAppend) throws(EventStoreError) -> AppendResult {
            if let failure { throw failure }
            do {
                try request.validate()
                let result = try transaction.appendMapped(request)
                if !result.wasAlreadyStored { eventsWritten += request.events.count }
                return result
            } catch {
                failure = error
                throw error
            }
        }
    }
}
