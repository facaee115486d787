import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

@Suite struct SQLiteFastStatementTests {
    private func database() throws -> (DatabaseQueue, TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        let queue = try DatabaseQueue(path: directory.path("model.sqlite"))
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE row (id INTEGER PRIMARY KEY, i INTEGER, d REAL, t TEXT, b BLOB, u BLOB, flag INTEGER,
                    stream TEXT, version INTEGER, position INTEGER, maybe TEXT) STRICT
                """)
        }
        return (queue, directory)
    }

    @Test func everyBindableTypeIsStoredWithItsStorageClassAndReadsBackThroughGRDB() throws {
        let (queue, directory) = try database()
        defer { directory.remove() }
        let uuid = UUID()
        let stream: StreamID = "order-7"
        try queue.write { db in
            let insert = try SQLiteFastStatement(db, sql: "INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            try insert.execute(1, Int64.max, 2.5, "héllo", Data([0, 1, 2]), uuid, true, stream, StreamVersion(3), GlobalPosition(9), String?.none)
            try insert.execute(Int32(2), Int64.min, -0.0, "", Data(), uuid, false, stream, StreamVersion(0), GlobalPosition(0), Optional("x"))
        }
        let rows = try queue.read { db in try Row.fetchAll(db, sql: "SELECT *, typeof(b), typeof(t), typeof(maybe) FROM row ORDER BY id") }
        #expect(rows.count == 2)
        #expect(rows[0]["i"] as Int64 == .max)
        #expect(rows[0]["d"] as Double == 2.5)
        #expect(rows[0]["t"] as String == "héllo")
        #expect(rows[0]["b"] as Data == Data([0, 1, 2]))
        #expect(rows[0]["u"] as UUID == uuid)  // GRDB's own UUID decoding: 16-byte blob
        #expect(rows[0]["flag"] as Bool == true)
        #expect(rows[0]["stream"] as String == "order-7")
        #expect(rows[0]["version"] as Int64 == 3)
        #expect(rows[0]["position"] as Int64 == 9)
        #expect((rows[0]["maybe"] as String?) == nil)
        #expect(rows[0]["typeof(maybe)"] as String == "null")
        #expect(rows[1]["i"] as Int64 == .min)
        #expect(rows[1]["flag"] as Bool == false)
        // Empty text and empty blobs stay text and blob, not NULL.
        #expect(rows[1]["typeof(t)"] as String == "text")
        #expect(rows[1]["typeof(b)"] as String == "blob")
        #expect(rows[1]["maybe"] as String == "x")
    }

    @Test func aWrongNumberOfValuesThrowsAndRunsNothing() throws {
        let (queue, directory) = try database()
        defer { directory.remove() }
        try queue.write { db in
            let insert = try SQLiteFastStatement(db, sql: "INSERT INTO row (id, i) VALUES (?, ?)")
            for attempt in [{ try insert.execute(1) }, { try insert.execute(1, 2, 3) }] {
                do {
                    try attempt()
                    Issue.record("a wrong number of values was accepted")
                } catch let error as DatabaseError {
                    #expect(error.resultCode == .SQLITE_MISUSE)
                }
            }
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM row") == 0)
            try insert.execute(1, 2)
            #expect(try Int.fetchOne(db, sql: "SELECT i FROM row WHERE id = 1") == 2)
        }
    }

    @Test func aConstraintViolationIsAConstraintErrorAndTheStatementStaysUsable() throws {
        let (queue, directory) = try database()
        defer { directory.remove() }
        try queue.write { db in
            let insert = try SQLiteFastStatement(db, sql: "INSERT INTO row (id, i) VALUES (?, ?)")
            try insert.execute(1, 10)
            do {
                try insert.execute(1, 20)
                Issue.record("a duplicate primary key was accepted")
            } catch let error as DatabaseError {
                #expect(error.resultCode == .SQLITE_CONSTRAINT)
            }
            // STRICT refuses text in an INTEGER column: also SQLite's own error, typed.
            do {
                try SQLiteFastStatement(db, sql: "INSERT INTO row (id, i) VALUES (?, ?)").execute(3, "not a number")
                Issue.record("text was stored in a STRICT INTEGER column")
            } catch let error as DatabaseError {
                #expect(error.resultCode == .SQLITE_CONSTRAINT)
            }
            try insert.execute(2, 30)
            #expect(try Int.fetchAll(db, sql: "SELECT i FROM row ORDER BY id") == [10, 30])
        }
    }
}
