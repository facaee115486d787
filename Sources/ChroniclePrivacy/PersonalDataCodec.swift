public import Chronicle
import Crypto
public import Foundation

/// An ``Chronicle/EventCodec`` decorator that encrypts the personal fields of ``PersonalData``
/// payloads with their subject's key (AES-256-GCM) on encode, and decrypts them on decode; once
/// the subject is forgotten (their keys destroyed), the fields decode as redacted values and
/// everything else of the event as stored, so aggregates and projections keep working.
///
/// ```swift
/// let keys = try SQLiteKeyStore(path: "keys.sqlite", pairedWith: store)
/// let codec = PersonalDataCodec(JSONEventCodec<CustomerEvent>(), keys: keys)
/// let repository = AggregateRepository(store: store, codec: codec, …)
/// ```
///
/// A sealed field is stored in place of its value as
/// `{"$sealed": {"subject": "customer-42", "key": 1, "kind": "string", "box": "<base64>"}}`:
/// the subject id, the key version, the JSON kind of the value (to pick its redacted value; a
/// field declared with a redacted value of its own stores it too, under `redacted`) and
/// AES-GCM's combined nonce, ciphertext and tag over the value's JSON, authenticated with the
/// event id, the field name, the subject and the key version (a sealed value copied into another
/// event or field does not open). Every encoded event with personal fields also gets the tag
/// `subject:<id>` (``Chronicle/DataSubject/tag(_:)``), so the subject's events can be found.
///
/// Decoding fails (``Chronicle/EventStoreError/Code/undecodablePayload``) rather than redact
/// when a key is neither there nor forgotten: the key store is the wrong one or damaged.
public struct PersonalDataCodec<Base: EventCodec>: EventCodec where Base.Event: RegisteredEvent {
    /// The decorated codec (JSON payloads).
    public let base: Base
    /// Where the subjects' keys are.
    public let keys: any SubjectKeyStore

    /// The JSON key marking a sealed field.
    public static var sealedMarker: String { "$sealed" }

    /// Decorates `base`, with keys from `keys`.
    /// - Parameters:
    ///   - base: the codec producing JSON payloads (usually ``Chronicle/JSONEventCodec``).
    ///   - keys: the key store paired with the event store.
    public init(_ base: Base, keys: any SubjectKeyStore) {
        self.base = base
        self.keys = keys
    }

    /// Encodes with `base`, then seals the personal fields (see ``Chronicle/EventCodec/encode(_:id:metadata:)``).
    ///
    /// - Throws: ``Chronicle/EventStoreError/Code/unencodableEvent`` when the subject was
    ///   forgotten, the key store fails, or a personal field is missing from the payload.
    public func encode(_ event: Base.Event, id: UUID, metadata: EventMetadata) throws(EventStoreError) -> EventData {
        var data = try base.encode(event, id: id, metadata: metadata)
        guard let personal = event.payload as? any PersonalData else { return data }
        let fields = type(of: personal).personalFields
        if fields.isEmpty { return data }
        let subject = personal.dataSubject
        func failure(_ why: String, _ underlying: (any Error)? = nil) -> EventStoreError {
            EventStoreError(.unencodableEvent, "Event \(data.type) \(id) was not encoded: \(why).", eventID: id, eventType: data.type, underlying: underlying)
        }
        let key: SubjectKey
        do {
            key = try keys.currentKey(for: subject)
        } catch {
            throw failure("no key for its subject \(subject): \(error.message)", error)
        }
        guard case .object(var object)? = try? JSONValue(parsing: data.payload) else {
            throw failure("its payload is not a JSON object, so its personal fields cannot be sealed")
        }
        for field in fields {
            guard let value = object[field.key] else {
                // An optional field left out (encodeIfPresent) has nothing to seal.
                continue
            }
            do {
                object[field.key] = try Self.seal(value, field: field, key: key, eventID: id)
            } catch {
                throw failure("field \(field.key) could not be sealed", error)
            }
        }
        do {
            data.payload = try JSONValue.object(object).encoded()
        } catch {
            throw failure("the sealed payload could not be encoded", error)
        }
        let tag = DataSubject.tag(subject)
        if !data.tags.contains(tag) { data.tags.append(tag) }
        return data
    }

    /// Opens the sealed fields (or redacts those of forgotten subjects), then decodes with
    /// `base` (see ``Chronicle/EventCodec/decode(_:)``).
    public func decode(_ recorded: RecordedEvent) throws(EventStoreError) -> [Base.Event] {
        guard Self.mayHoldSealedFields(recorded.payload) else { return try base.decode(recorded) }
        var opened = recorded
        opened.payload = try open(recorded)
        return try base.decode(opened)
    }

    /// The payload of `recorded` with its sealed fields opened or redacted (what ``decode(_:)``
    /// hands to `base`). For tools that show events.
    public func open(_ recorded: RecordedEvent) throws(EventStoreError) -> Data {
        func failure(_ why: String, _ underlying: (any Error)? = nil) -> EventStoreError {
            EventStoreError(
                .undecodablePayload,
                "Event \(recorded.id) at \(recorded.streamID) version \(recorded.streamVersion), position \(recorded.position): \(why).",
                streamID: recorded.streamID, eventID: recorded.id, eventType: recorded.type, position: recorded.position,
                streamVersion: recorded.streamVersion, underlying: underlying)
        }
        guard case .object(var object)? = try? JSONValue(parsing: recorded.payload) else { return recorded.payload }
        var changed = false
        for (field, value) in object {
            guard let sealed = SealedField(value) else { continue }
            changed = true
            let lookup: SubjectKeyLookup
            do {
                lookup = try keys.key(for: sealed.subject, version: sealed.keyVersion)
            } catch {
                throw failure("the key store could not be read for subject \(sealed.subject)", error)
            }
            switch lookup {
            case .forgotten:
                object[field] = sealed.redacted
            case .missing:
                throw failure("field \(field) is sealed with key version \(sealed.keyVersion) of subject \(sealed.subject), which this key store neither has nor forgot. Is it the key store paired with this event store (or a damaged copy)? Nothing was redacted")
            case .found(let key):
                do {
                    object[field] = try Self.unseal(sealed, field: field, key: key, eventID: recorded.id)
                } catch {
                    throw failure("field \(field) does not open with key version \(sealed.keyVersion) of subject \(sealed.subject) (tampered with, or the wrong key store)", error)
                }
            }
        }
        guard changed else { return recorded.payload }
        do {
            return try JSONValue.object(object).encoded()
        } catch {
            throw failure("the opened payload could not be encoded", error)
        }
    }

    /// Whether `payload` may hold a sealed field (a byte search, so events without personal
    /// fields pay no JSON parse).
    static func mayHoldSealedFields(_ payload: Data) -> Bool {
        payload.range(of: sealedMarkerBytes) != nil
    }

    private static var sealedMarkerBytes: Data { Data("\"$sealed\"".utf8) }

    static func seal(_ value: JSONValue, field: PersonalField, key: SubjectKey, eventID: UUID) throws -> JSONValue {
        let plaintext = try value.encoded()
        let box = try AES.GCM.seal(
            plaintext, using: SymmetricKey(data: key.material),
            authenticating: authenticatedData(eventID: eventID, field: field.key, subject: key.subject, version: key.version))
        guard let combined = box.combined else { throw PrivacyError(.invalidKey, "AES-GCM gave no combined box") }
        return SealedField(subject: key.subject, keyVersion: key.version, kind: SealedField.kind(of: value), box: combined, declaredRedaction: field.redacted).json
    }

    static func unseal(_ sealed: SealedField, field: String, key: SubjectKey, eventID: UUID) throws -> JSONValue {
        guard key.material.count == SubjectKey.byteCount else {
            throw PrivacyError(.invalidKey, "Key version \(key.version) of subject \(key.subject) has \(key.material.count) bytes, not \(SubjectKey.byteCount): the key store is damaged.", subject: key.subject)
        }
        let box = try AES.GCM.SealedBox(combined: sealed.box)
        let plaintext = try AES.GCM.open(
            box, using: SymmetricKey(data: key.material),
            authenticating: authenticatedData(eventID: eventID, field: field, subject: key.subject, version: key.version))
        return try JSONValue(parsing: plaintext)
    }

    private static func authenticatedData(eventID: UUID, field: String, subject: String, version: Int) -> Data {
        Data("chronicle.sealed.v1\n\(eventID.uuidString.lowercased())\n\(field)\n\(subject)\n\(version)".utf8)
    }
}

/// One sealed field as stored.
struct SealedField {
    var subject: String
    var keyVersion: Int
    var kind: String
    var box: Data
    /// The redacted value the field declared, if not its kind's default.
    var declaredRedaction: JSONValue?

    init(subject: String, keyVersion: Int, kind: String, box: Data, declaredRedaction: JSONValue?) {
        self.subject = subject
        self.keyVersion = keyVersion
        self.kind = kind
        self.box = box
        self.declaredRedaction = declaredRedaction
    }

    /// The sealed field held by `value`, if it is one.
    init?(_ value: JSONValue) {
        guard case .object(let outer) = value, outer.count == 1, case .object(let fields)? = outer["$sealed"],
            let subject = fields["subject"]?.stringValue, let version = fields["key"]?.intValue,
            let kind = fields["kind"]?.stringValue, let text = fields["box"]?.stringValue, let box = Data(base64Encoded: text)
        else { return nil }
        self.init(subject: subject, keyVersion: Int(version), kind: kind, box: box, declaredRedaction: fields["redacted"])
    }

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "subject": .string(subject), "key": .int(Int64(keyVersion)), "kind": .string(kind), "box": .string(box.base64EncodedString()),
        ]
        if let declaredRedaction { fields["redacted"] = declaredRedaction }
        return .object(["$sealed": .object(fields)])
    }

    static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "bool"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The default redacted value of the field's kind (see ``PersonalField/redacted``).
    var redacted: JSONValue {
        if let declaredRedaction { return declaredRedaction }
        return switch kind {
        case "string": .string(PersonalField.redactedString)
        case "number": .int(0)
        case "bool": .bool(false)
        case "array": .array([])
        case "object": .object([:])
        default: .null
        }
    }
}
