import Chronicle
import ChroniclePostgres
import ChroniclePrivacy
import ChronicleTesting
import Foundation
import PostgresNIO
import Testing

struct PostgresCustomerRegistered: Codable, Sendable, Equatable, PersonalData {
    var customerID: String
    var name: String
    var email: String

    static let personalFields: [PersonalField] = ["name", "email"]
    var dataSubject: String { customerID }
}

enum PostgresCustomerEvent: RegisteredEvent {
    case registered(PostgresCustomerRegistered)

    static let registry = EventTypeRegistry<PostgresCustomerEvent>()
        .register(PostgresCustomerRegistered.self, as: "CustomerRegistered", version: 1, PostgresCustomerEvent.registered)

    var payload: any Encodable & Sendable {
        switch self {
        case .registered(let event): event
        }
    }
}

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresPrivacyTests {
    @Test(arguments: SubjectKeyStoreConformance.cases)
    func postgresKeyStoresConform(_ conformanceCase: SubjectKeyStoreConformance.Case) async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let keys = try PostgresKeyStore(settings: database.settings, schema: database.schema)
            defer { keys.close() }
            try await conformanceCase.run(.init(keys: keys, reopen: { try PostgresKeyStore(settings: database.settings, schema: database.schema) }))
        }
    }

    /// After `forget`, no row of any table of the store's schema holds the subject's plaintext or
    /// key material (every column of every table read as text).
    @Test func afterForgetNoTableHoldsTheSubjectsPlaintextOrKeys() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let keys = try PostgresKeyStore(settings: database.settings, schema: database.schema)
            defer { keys.close() }
            let codec = PersonalDataCodec(JSONEventCodec<PostgresCustomerEvent>().skippingUnknownTypes(), keys: keys)
            let ada = PostgresCustomerEvent.registered(PostgresCustomerRegistered(customerID: "customer-1", name: "Ada Lovelace", email: "ada@analytical.example"))
            let grace = PostgresCustomerEvent.registered(PostgresCustomerRegistered(customerID: "customer-2", name: "Grace Hopper", email: "grace@cobol.example"))
            try await store.append(try codec.encode(ada, id: UUID(), metadata: .none), to: "customer-1", expectedVersion: .noStream)
            try await store.append(try codec.encode(grace, id: UUID(), metadata: .none), to: "customer-2", expectedVersion: .noStream)
            _ = try keys.rotateKey(for: "customer-1")
            let keyMaterial = try [1, 2].map { version in
                guard case .found(let key) = try keys.key(for: "customer-1", version: version) else { throw PrivacyError(.unknownSubject, "no key \(version)") }
                return key.material
            }
            let snapshots = PostgresSnapshotStore(sharingSchemaOf: store)
            try await snapshots.save(Snapshot(streamID: "customer-1", version: 1, position: 1, fingerprint: "f", state: Data(#"{"name":"Ada Lovelace"}"#.utf8)))
            #expect(try await Self.rowsHolding(["Ada Lovelace", "ada@analytical.example"], in: database) == ["snapshots"], "before: only the snapshot holds plaintext")

            let report = try await SubjectEraser(store: store, keys: keys, snapshots: snapshots).forget("customer-1")
            #expect(report.destroyedKeys == 2 && report.deletedSnapshots == ["customer-1"])
            let needles = ["Ada Lovelace", "ada@analytical.example"] + keyMaterial.flatMap { key in
                [key.base64EncodedString(), key.map { String(format: "%02x", $0) }.joined()]
            }
            #expect(try await Self.rowsHolding(needles, in: database) == [])
            #expect(try await store.readStream("customer-1").flatMap(codec.decode) == [
                .registered(PostgresCustomerRegistered(customerID: "customer-1", name: PersonalField.redactedString, email: PersonalField.redactedString)),
            ])
            #expect(try await store.readStream("customer-2").flatMap(codec.decode) == [grace])
        }
    }

    /// The tables of the test schema with a row whose text (bytea as `\x` and hex) contains one of
    /// `needles`, as text or as the hex of their UTF-8 bytes.
    static func rowsHolding(_ needles: [String], in database: PostgresTestDatabase) async throws -> [String] {
        var tables: [String] = []
        for try await table in try await database.client.query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = \(database.schema.rawValue) ORDER BY table_name").decode(String.self) {
            tables.append(table)
        }
        #expect(tables.contains("subject_keys") && tables.contains("events") && tables.contains("snapshots"))
        let searched = needles + needles.map { Data($0.utf8).map { String(format: "%02x", $0) }.joined() }
        var holding: [String] = []
        for table in tables {
            // Every column of every row, as text; bytea also decoded as UTF-8 text where it is.
            let sql = """
                SELECT count(*)::bigint FROM "\(database.schema.rawValue)"."\(table)" AS t
                WHERE EXISTS (
                    SELECT 1 FROM jsonb_each_text(to_jsonb(t)) AS c(key, value), unnest($1::text[]) AS n(needle)
                    WHERE position(lower(n.needle) IN lower(c.value)) > 0
                )
                """
            var binds = PostgresBindings()
            binds.append(searched)
            for try await count in try await database.client.query(PostgresQuery(unsafeSQL: sql, binds: binds)).decode(Int64.self) where count > 0 {
                holding.append(table)
            }
        }
        return holding
    }
}
