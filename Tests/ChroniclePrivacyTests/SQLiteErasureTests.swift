import Chronicle
import ChroniclePrivacy
import ChronicleSQLite
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import GRDB
import Logging
import Testing

/// A read model of customers that forgets a subject when it sees ``SubjectForgotten``.
struct CustomerDirectory: SQLiteProjector, ForgetsSubjects {
    let name = "customer-directory"
    let codec: PersonalDataCodec<JSONEventCodec<CustomerEvent>>
    var subjectForgottenHandling: SubjectForgottenHandling { .handlesEvent }

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: "CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, street TEXT)")
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        if let forgotten = SubjectForgotten(event) {
            try db.execute(sql: "DELETE FROM customers WHERE id = ?", arguments: [forgotten.subject])
            return
        }
        for decoded in try codec.decode(event) {
            switch decoded {
            case .registered(let registered):
                try db.execute(sql: "INSERT OR REPLACE INTO customers (id, name, email) VALUES (?, ?, ?)", arguments: [registered.customerID, registered.name, registered.email])
            case .addressChanged(let changed):
                try db.execute(sql: "UPDATE customers SET street = ? WHERE id = ?", arguments: [changed.address?.street, changed.customerID])
            case .planChanged:
                break
            }
        }
    }
}

@Suite struct SQLiteErasureTests {
    @Test(arguments: SubjectKeyStoreConformance.cases)
    func sqliteKeyStoresConform(_ conformanceCase: SubjectKeyStoreConformance.Case) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"))
        let path = directory.path("keys.sqlite")
        try await conformanceCase.run(.init(keys: try SQLiteKeyStore(path: path, pairedWith: store), reopen: { try SQLiteKeyStore(path: path, pairedWith: store) }))
        try await store.close()
    }

    /// Forgets a subject with every copy in place, then scans the bytes of every file for their
    /// plaintext and key material.
    @Test func afterForgetNoFileHoldsTheSubjectsPlaintextOrKeys() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let storePath = directory.path("events.sqlite")
        let store = try SQLiteEventStore(path: storePath)
        let keys = try SQLiteKeyStore(path: directory.path("keys.sqlite"), pairedWith: store)
        let snapshots = try SQLiteSnapshotStore(path: directory.path("snapshots.sqlite"))
        let codec = PersonalDataCodec(JSONEventCodec<CustomerEvent>().skippingUnknownTypes(), keys: keys)
        try FileManager.default.createDirectory(atPath: directory.path("read-models"), withIntermediateDirectories: true)
        let model = try SQLiteReadModel(
            CustomerDirectory(codec: codec), directory: directory.path("read-models"), source: .observing(store), logger: Logger(label: "test"))
        let running = Task { try await model.run() }
        defer { running.cancel() }

        try await store.append(try Customers.encode([Customers.ada(), Customers.adaMoved()], with: codec), to: "customer-1", expectedVersion: .noStream)
        let graceAppend = try await store.append(try Customers.encode([Customers.grace()], with: codec), to: "customer-2", expectedVersion: .noStream)
        // Rotate Ada's key: both versions must go.
        _ = try keys.rotateKey(for: "customer-1")
        try await store.append(try Customers.encode([.registered(CustomerRegistered(customerID: "customer-1", name: Customers.adaName, email: Customers.adaEmail, plan: "platinum"))], with: codec), to: "customer-1", expectedVersion: .exactly(2))
        let keyMaterial = try [1, 2].map { version in
            guard case .found(let key) = try keys.key(for: "customer-1", version: version) else { throw PrivacyError(.unknownSubject, "no key \(version)") }
            return key.material
        }
        try await snapshots.save(Snapshot(streamID: "customer-1", version: 3, position: 4, fingerprint: "Customer@v1", state: Data(#"{"name":"\#(Customers.adaName)"}"#.utf8)))
        try await model.waitUntil(position: try await store.headPosition(), timeout: .seconds(20))
        #expect(try await model.read { db in try String.fetchOne(db, sql: "SELECT email FROM customers WHERE id = 'customer-1'") } == Customers.adaEmail)

        // A backup of the log taken before: ciphertext only.
        let before = directory.path("backup-before.sqlite")
        try await Self.backUp(storePath, to: before)

        let report = try await forgetCustomer("customer-1", store: store, keys: keys, snapshots: snapshots)
        #expect(report.destroyedKeys == 2 && report.encryptedEvents == 3 && report.deletedSnapshots == ["customer-1"])
        try await model.waitUntil(position: try #require(report.forgottenEvent), timeout: .seconds(20))
        #expect(try await model.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM customers") } == 1)
        try await eventually("every WAL is checkpointed and truncated", timeout: .seconds(20)) {
            let model = try await model.checkpoint()
            let snapshots = try await snapshots.checkpoint()
            let store = try await store.checkpoint()
            return model && snapshots && store
        }
        let after = directory.path("backup-after.sqlite")
        try await Self.backUp(storePath, to: after)

        // Aggregates and projections keep working: the events decode, Ada's fields redacted.
        let decoded = try await store.readStream("customer-1").flatMap(codec.decode)
        #expect(decoded.count == 3)
        #expect(decoded.first == .registered(CustomerRegistered(customerID: "customer-1", name: PersonalField.redactedString, email: PersonalField.redactedString, plan: "gold")))
        #expect(try await store.readStream("customer-2").flatMap(codec.decode) == [Customers.grace()])
        _ = graceAppend

        let needles: [(String, Data)] = [
            ("Ada's name", Data(Customers.adaName.utf8)), ("Ada's email", Data(Customers.adaEmail.utf8)), ("Ada's street", Data(Customers.adaStreet.utf8)),
        ] + keyMaterial.enumerated().flatMap { index, key in
            [("key \(index + 1)", key), ("key \(index + 1) in base64", Data(key.base64EncodedString().utf8)),
             ("key \(index + 1) in hex", Data(key.map { String(format: "%02x", $0) }.joined().utf8))]
        }
        let files = try Self.everyFile(in: directory.url.path)
        #expect(files.contains { $0.hasSuffix("events.sqlite-wal") } && files.contains { $0.hasSuffix("keys.sqlite") })
        #expect(files.contains { $0.contains("read-models") } && files.contains(before) && files.contains(after))
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            for (what, needle) in needles {
                #expect(!bytes.holds(needle), "\(what) found in \(file)")
            }
        }
        // Grace was not forgotten: her data is still readable through the read model.
        #expect(try await model.read { db in try String.fetchOne(db, sql: "SELECT name FROM customers WHERE id = 'customer-2'") } == Customers.graceName)
        running.cancel()
        _ = try? await running.value
        try snapshots.close()
        try keys.close()
        try await store.close()
    }

    @Test func aMissingKeyStoreOfAPairedEventStoreIsRefusedAndNotRemade() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"))
        let keys = try SQLiteKeyStore(path: directory.path("keys.sqlite"), pairedWith: store)
        _ = try keys.currentKey(for: "customer-1")
        try keys.close()
        let error = #expect(throws: PrivacyError.self) { try SQLiteKeyStore(path: directory.path("elsewhere.sqlite"), pairedWith: store) }
        #expect(error?.code == .keyStoreMissing)
        #expect(!FileManager.default.fileExists(atPath: directory.path("elsewhere.sqlite")), "no key store was made")
        let reopened = try SQLiteKeyStore(path: directory.path("keys.sqlite"), pairedWith: store)
        #expect(try reopened.status(of: "customer-1") == .active(keyVersions: 1))
        try reopened.close()
        try await store.close()
    }

    @Test func aKeyStoreOfAnotherEventStoreIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try SQLiteEventStore(path: directory.path("first.sqlite"))
        let second = try SQLiteEventStore(path: directory.path("second.sqlite"))
        let keys = try SQLiteKeyStore(path: directory.path("keys.sqlite"), pairedWith: first)
        _ = try keys.currentKey(for: "customer-1")
        try keys.close()
        let error = #expect(throws: PrivacyError.self) { try SQLiteKeyStore(path: directory.path("keys.sqlite"), pairedWith: second) }
        #expect(error?.code == .keyStoreMismatch)
        let notKeys = #expect(throws: PrivacyError.self) { try SQLiteKeyStore(path: directory.path("second.sqlite"), pairedWith: first) }
        #expect(notKeys?.code == .unsupportedKeyStore)
        let reopened = try SQLiteKeyStore(path: directory.path("keys.sqlite"), pairedWith: first)
        #expect(try reopened.status(of: "customer-1") == .active(keyVersions: 1), "nothing was lost")
        try reopened.close()
        try await first.close()
        try await second.close()
    }

    /// A consistent copy of the store file (`VACUUM INTO`), as a backup tool makes.
    static func backUp(_ path: String, to destination: String) async throws {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) }
        try queue.close()
    }

    static func everyFile(in directory: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let name = walker.nextObject() as? String {
            let path = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { files.append(path) }
        }
        return files
    }
}
