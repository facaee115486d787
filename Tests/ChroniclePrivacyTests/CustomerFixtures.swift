import Chronicle
import ChroniclePrivacy
import ChronicleSQLite
import Foundation

// A customer's events with personal fields, for the privacy tests. The first two declarations
// are Docs/Operations.md's snippet ("Personal data (GDPR)").
struct CustomerRegistered: Codable, Sendable, Equatable, PersonalData {
    var customerID: String
    var name: String
    var email: String
    var plan: String

    static let personalFields: [PersonalField] = ["name", "email"]
    var dataSubject: String { customerID }
}

func forgetCustomer(_ id: String, store: SQLiteEventStore, keys: SQLiteKeyStore, snapshots: SQLiteSnapshotStore) async throws -> ForgetReport {
    try await SubjectEraser(store: store, keys: keys, snapshots: snapshots).forget(id)
}

struct Address: Codable, Sendable, Equatable {
    var street: String
    var city: String
}

struct AddressChanged: Codable, Sendable, Equatable, PersonalData {
    var customerID: String
    var address: Address?
    var visits: Int

    static let personalFields: [PersonalField] = [PersonalField("address", redacted: .null)]
    var dataSubject: String { customerID }
}

struct PlanChanged: Codable, Sendable, Equatable {
    var customerID: String
    var plan: String
}

enum CustomerEvent: RegisteredEvent {
    case registered(CustomerRegistered)
    case addressChanged(AddressChanged)
    case planChanged(PlanChanged)

    static let registry = EventTypeRegistry<CustomerEvent>()
        .register(CustomerRegistered.self, as: "CustomerRegistered", version: 1, CustomerEvent.registered)
        .register(AddressChanged.self, as: "AddressChanged", version: 1, CustomerEvent.addressChanged)
        .register(PlanChanged.self, as: "PlanChanged", version: 1, CustomerEvent.planChanged)

    var payload: any Encodable & Sendable {
        switch self {
        case .registered(let event): event
        case .addressChanged(let event): event
        case .planChanged(let event): event
        }
    }
}

enum Customers {
    static let adaName = "Ada Lovelace"
    static let adaEmail = "ada.lovelace@analytical.example"
    static let adaStreet = "12 St James's Square"
    static let graceName = "Grace Hopper"
    static let graceEmail = "grace.hopper@cobol.example"

    static func ada() -> CustomerEvent {
        .registered(CustomerRegistered(customerID: "customer-1", name: adaName, email: adaEmail, plan: "gold"))
    }

    static func grace() -> CustomerEvent {
        .registered(CustomerRegistered(customerID: "customer-2", name: graceName, email: graceEmail, plan: "silver"))
    }

    static func adaMoved() -> CustomerEvent {
        .addressChanged(AddressChanged(customerID: "customer-1", address: Address(street: adaStreet, city: "London"), visits: 3))
    }

    static func encode(_ events: [CustomerEvent], with codec: some EventCodec<CustomerEvent>) throws -> [EventData] {
        try events.map { try codec.encode($0, id: UUID(), metadata: .none) }
    }
}

extension Data {
    /// Whether `needle` occurs in these bytes.
    func holds(_ needle: Data) -> Bool { !needle.isEmpty && range(of: needle) != nil }
}
