import Chronicle
import ChroniclePrivacy
import ChronicleTesting
import Foundation
import Testing

@Suite struct PersonalDataCodecTests {
    let keys = InMemorySubjectKeyStore()
    var codec: PersonalDataCodec<JSONEventCodec<CustomerEvent>> { PersonalDataCodec(JSONEventCodec<CustomerEvent>(), keys: keys) }

    @Test(arguments: SubjectKeyStoreConformance.cases)
    func inMemoryKeyStoresConform(_ conformanceCase: SubjectKeyStoreConformance.Case) async throws {
        let keys = InMemorySubjectKeyStore()
        try await conformanceCase.run(.init(keys: keys, reopen: { keys }))
    }

    @Test func personalFieldsAreStoredSealedAndDecodeToTheirValues() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada(), Customers.adaMoved()], with: codec), to: "customer-1", expectedVersion: .noStream)
        let recorded = try await store.readStream("customer-1")
        for event in recorded {
            #expect(!event.payload.holds(Data(Customers.adaName.utf8)))
            #expect(!event.payload.holds(Data(Customers.adaEmail.utf8)))
            #expect(!event.payload.holds(Data(Customers.adaStreet.utf8)))
            #expect(event.tags == ["subject:customer-1"])
        }
        #expect(recorded[0].payload.holds(Data(#""plan":"gold""#.utf8)), "fields that are not personal stay in clear")
        #expect(try recorded.flatMap(codec.decode) == [Customers.ada(), Customers.adaMoved()])
    }

    @Test func eventsWithoutPersonalDataAreLeftAsTheBaseCodecEncodesThem() throws {
        let plain = JSONEventCodec<CustomerEvent>()
        let event = CustomerEvent.planChanged(PlanChanged(customerID: "customer-1", plan: "gold"))
        let id = UUID()
        #expect(try codec.encode(event, id: id, metadata: .none) == plain.encode(event, id: id, metadata: .none))
        #expect(try keys.status(of: "customer-1") == .unknown, "no key is made for an event without personal fields")
    }

    @Test func aForgottenSubjectsFieldsDecodeRedactedAndTheRestAsStored() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada(), Customers.adaMoved()], with: codec), to: "customer-1", expectedVersion: .noStream)
        try await store.append(try Customers.encode([Customers.grace()], with: codec), to: "customer-2", expectedVersion: .noStream)
        let report = try await SubjectEraser(store: store, keys: keys).forget("customer-1")
        #expect(report.destroyedKeys == 1 && report.encryptedEvents == 2 && report.streams == ["customer-1"])
        // The SubjectForgotten event is not a CustomerEvent: a codec skipping unknown types passes it by.
        let lenient = PersonalDataCodec(JSONEventCodec<CustomerEvent>().skippingUnknownTypes(), keys: keys)
        let decoded = try await store.readAll(after: .start, limit: 100).flatMap(lenient.decode)
        #expect(decoded == [
            .registered(CustomerRegistered(customerID: "customer-1", name: PersonalField.redactedString, email: PersonalField.redactedString, plan: "gold")),
            .addressChanged(AddressChanged(customerID: "customer-1", address: nil, visits: 3)),
            Customers.grace(),
        ])
    }

    @Test func rotationEncryptsNewEventsWithTheNewKeyAndOlderEventsStillOpen() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada()], with: codec), to: "customer-1", expectedVersion: .noStream)
        let rotated = try keys.rotateKey(for: "customer-1")
        try await store.append(try Customers.encode([Customers.adaMoved()], with: codec), to: "customer-1", expectedVersion: .exactly(1))
        let recorded = try await store.readStream("customer-1")
        #expect(String(decoding: recorded[0].payload, as: UTF8.self).contains(#""key":1"#))
        #expect(String(decoding: recorded[1].payload, as: UTF8.self).contains(#""key":\#(rotated.version)"#))
        #expect(try recorded.flatMap(codec.decode) == [Customers.ada(), Customers.adaMoved()])
    }

    @Test func aKeyStoreWithoutTheKeyFailsInsteadOfRedacting() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada()], with: codec), to: "customer-1", expectedVersion: .noStream)
        let stranger = PersonalDataCodec(JSONEventCodec<CustomerEvent>(), keys: InMemorySubjectKeyStore())
        let recorded = try await store.readStream("customer-1")[0]
        let error = #expect(throws: EventStoreError.self) { try stranger.decode(recorded) }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.message.contains("neither has nor forgot") == true)
    }

    @Test func aSealedFieldCopiedIntoAnotherEventDoesNotOpen() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada()], with: codec), to: "customer-1", expectedVersion: .noStream)
        var copied = try await store.readStream("customer-1")[0]
        copied.id = UUID()
        #expect(throws: EventStoreError.self) { try codec.decode(copied) }
    }

    @Test func aForgottenSubjectsEventCannotBeEncodedAgain() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada()], with: codec), to: "customer-1", expectedVersion: .noStream)
        _ = try await SubjectEraser(store: store, keys: keys).forget("customer-1")
        let error = #expect(throws: EventStoreError.self) { try codec.encode(Customers.ada(), id: UUID(), metadata: .none) }
        #expect(error?.code == .unencodableEvent)
        #expect((error?.underlying as? PrivacyError)?.code == .subjectForgotten)
    }
}

@Suite struct SubjectEraserTests {
    let keys = InMemorySubjectKeyStore()
    var codec: PersonalDataCodec<JSONEventCodec<CustomerEvent>> { PersonalDataCodec(JSONEventCodec<CustomerEvent>(), keys: keys) }

    @Test func forgetRecordsTheEventOnceAndDeletesTheSubjectsSnapshots() async throws {
        let store = InMemoryEventStore()
        let snapshots = InMemorySnapshotStore()
        try await store.append(try Customers.encode([Customers.ada()], with: codec), to: "customer-1", expectedVersion: .noStream)
        try await store.append(try Customers.encode([Customers.grace()], with: codec), to: "customer-2", expectedVersion: .noStream)
        for stream: StreamID in ["customer-1", "customer-2"] {
            await snapshots.save(Snapshot(streamID: stream, version: 1, position: 1, fingerprint: "f", state: Data("{}".utf8)))
        }
        let eraser = SubjectEraser(store: store, keys: keys, snapshots: snapshots, projections: [
            DeclaredProjection(name: "customer-directory", subjectForgottenHandling: .handlesEvent),
            DeclaredProjection(name: "mailing-list", subjectForgottenHandling: .requiresRebuild),
            DeclaredProjection(name: "order-totals", subjectForgottenHandling: .holdsNoPersonalData),
        ])
        let first = try await eraser.forget("customer-1", metadata: EventMetadata(correlationID: "gdpr-request-7"))
        #expect(!first.wasAlreadyForgotten && first.destroyedKeys == 1 && first.deletedSnapshots == ["customer-1"])
        #expect(first.projectionsToRebuild == ["mailing-list"])
        let recorded = try await store.readStream(try SubjectForgotten.stream(of: "customer-1"))
        #expect(recorded.count == 1 && SubjectForgotten(recorded[0]) == SubjectForgotten(subject: "customer-1"))
        #expect(recorded[0].position == first.forgottenEvent && recorded[0].metadata.correlationID == "gdpr-request-7")
        #expect(await snapshots.snapshot(of: "customer-1") == nil)
        #expect(await snapshots.snapshot(of: "customer-2") != nil)

        let again = try await eraser.forget("customer-1")
        #expect(again.wasAlreadyForgotten && again.destroyedKeys == 0 && again.forgottenEvent == first.forgottenEvent)
        #expect(try await store.readStream(try SubjectForgotten.stream(of: "customer-1")).count == 1, "forgetting again appends nothing")
    }

    @Test func aDryRunReportsAndChangesNothing() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada(), Customers.adaMoved()], with: codec), to: "customer-1", expectedVersion: .noStream)
        let head = await store.headPosition()
        let report = try await SubjectEraser(store: store, keys: keys).forget("customer-1", dryRun: true)
        #expect(report.dryRun && report.destroyedKeys == 1 && report.encryptedEvents == 2 && report.forgottenEvent == nil)
        #expect(try keys.status(of: "customer-1") == .active(keyVersions: 1))
        #expect(await store.headPosition() == head)
    }

    @Test func forgettingAnUnknownSubjectFailsClearlyAndChangesNothing() async throws {
        let store = InMemoryEventStore()
        try await store.append(try Customers.encode([Customers.ada()], with: codec), to: "customer-1", expectedVersion: .noStream)
        let error = await #expect(throws: PrivacyError.self) { try await SubjectEraser(store: store, keys: keys).forget("customer-404") }
        #expect(error?.code == .unknownSubject && error?.subject == "customer-404")
        #expect(await store.headPosition() == 1)
        let invalid = await #expect(throws: PrivacyError.self) { try await SubjectEraser(store: store, keys: keys).forget("ada@example.com, bob") }
        #expect(invalid?.code == .invalidSubject)
    }
}

struct DeclaredProjection: ForgetsSubjects {
    var name: String
    var subjectForgottenHandling: SubjectForgottenHandling
}
