import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Testing

/// `chronicle forget` and `chronicle scavenge`: dry runs change nothing, reports say what was
/// erased, bad input fails clearly.
@Suite(.serialized) struct CLILifecycleTests {
    @Test func forgetDestroysTheSubjectsKeysAndADryRunChangesNothing() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        #expect(try await cli.run(["init"]).status == 0)
        // A key store paired with the store, with a key for customer-1 (as the privacy codec makes).
        let store = try SQLiteEventStore(path: cli.storePath)
        let keyPath = cli.directory.appendingPathComponent("store-keys.sqlite").path
        let keys = try SQLiteKeyStore(path: keyPath, pairedWith: store)
        _ = try keys.currentKey(for: "customer-1")
        try keys.close()
        try await store.close()
        let input = #"{"type":"CustomerRegistered","data":{"name":{"$sealed":{}}},"tags":["subject:customer-1"]}"#
        #expect(try await cli.run(["append", "customer-1"], input: input).status == 0)

        let dry = try await cli.run(["forget", "customer-1", "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let planned = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        #expect(planned["dryRun"] as? Bool == true && planned["destroyedKeys"] as? Int == 1 && planned["encryptedEvents"] as? Int == 1)
        #expect(dry.stderr.contains("dry run"))
        #expect(try await cli.run(["stats", "--json"]).stdout.contains(#""events":1"#), "a dry run appends nothing")

        let forgotten = try await cli.run(["forget", "customer-1"])
        #expect(forgotten.status == 0, "\(forgotten.stderr)")
        #expect(forgotten.stdout.contains("keys destroyed") && forgotten.stderr.contains("destroyed 1 key(s)"))
        #expect(forgotten.stderr.contains("found 1 sealed event(s) of customer-1 in 1 stream(s)") && forgotten.stderr.contains("recorded SubjectForgotten at position"), "progress: \(forgotten.stderr)")
        let recorded = try await cli.run(["read", "privacy-customer-1", "--json"])
        #expect(recorded.stdout.contains("SubjectForgotten"))
        let again = try await cli.run(["forget", "customer-1", "--json"])
        #expect(again.status == 0 && again.stdout.contains(#""wasAlreadyForgotten":true"#))

        let unknown = try await cli.run(["forget", "customer-404"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("has no key in this key store"))
        let missing = try await cli.run(["forget", "customer-1", "--keys", cli.directory.appendingPathComponent("nowhere.sqlite").path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("restore the key store from its backup"))
        #expect(!FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent("nowhere.sqlite").path))
    }

    @Test func scavengeAppliesRetentionKeepsTheLogGapFreeAndADryRunChangesNothing() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let readings = (1...5).map { #"{"type":"Reading","data":{"value":"secret-\#($0)"}}"# }.joined(separator: "\n")
        #expect(try await cli.run(["append", "sensor-1"], input: readings).status == 0)
        #expect(try await cli.run(["append", "order-1"], input: #"{"type":"OrderPlaced","data":{}}"#).status == 0)

        let dry = try await cli.run(["scavenge", "--retain", "sensor:count=2", "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains(#""erasedEvents":3"#) && dry.stdout.contains(#""dryRun":true"#))
        #expect(try await cli.run(["read", "sensor-1", "--json"]).stdout.split(separator: "\n").count == 5)

        let done = try await cli.run(["scavenge", "--retain", "sensor:count=2"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stderr.contains("erased 3 event(s)"))
        #expect(done.stderr.contains("sensor-1: erased 3 event(s) before version 4"), "progress: \(done.stderr)")
        #expect(try await cli.run(["read", "sensor-1", "--json"]).stdout.split(separator: "\n").count == 2)
        #expect(try await cli.run(["read", "order-1", "--json"]).stdout.split(separator: "\n").count == 1)
        let verify = try await cli.run(["verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let file = try Data(contentsOf: URL(fileURLWithPath: cli.storePath))
        #expect(file.range(of: Data("secret-1".utf8)) == nil && file.range(of: Data("secret-5".utf8)) != nil)

        let bad = try await cli.run(["scavenge", "--retain", "sensor:count=0"])
        #expect(bad.status == 1 && bad.stderr.contains("--retain sensor:count=0"))
    }
}
