import Chronicle
import ChronicleTestSupport
import Foundation
import Testing

@testable import ChronicleCommandLine

/// The event JSON of `append`, `import`, `read --json`, `tail --json` and `export`: one metadata
/// spelling, unknown keys refused, payloads read back byte for byte.
@Suite(.serialized) struct CLIEventJSONTests {
    /// The metadata of every line `read --json` prints, by event type.
    private func metadataByType(_ cli: CLIRunner, _ args: [String]) async throws -> [String: [String: Any]] {
        let read = try await cli.run(args + ["--json"])
        #expect(read.status == 0, "\(read.stderr)")
        var result: [String: [String: Any]] = [:]
        for line in read.stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            result[try #require(object["type"] as? String)] = try #require(object["metadata"] as? [String: Any])
        }
        return result
    }

    @Test func appendAcceptsEveryDocumentedMetadataFormAndReadsItBackInTheSameSpelling() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        // The form `append --help` and Docs/CLI.md document, each key alone and together; then the
        // storage keys of export files written before the one spelling (still read, never written).
        let input = """
            {"type":"Full","data":{},"metadata":{"correlationId":"corr-1","causationId":"cause-1","custom":{"tenant":"acme"}}}
            {"type":"CorrelationOnly","data":{},"metadata":{"correlationId":"corr-2"}}
            {"type":"CausationOnly","data":{},"metadata":{"causationId":"cause-3"}}
            {"type":"CustomOnly","data":{},"metadata":{"custom":{"user":"zoë"}}}
            {"type":"Nulls","data":{},"metadata":{"correlationId":null,"causationId":null,"custom":{}}}
            {"type":"OldExport","data":"{}","metadata":{"c":"corr-5","k":"cause-5","x":{"tenant":"old"}}}
            """
        let appended = try await cli.run(["append", "order-1"], input: input)
        #expect(appended.status == 0, "\(appended.stderr)")
        let help = try await cli.run(["append", "--help"], store: false)
        #expect(help.stdout.contains(#""correlationId""#) && help.stdout.contains(#""causationId""#) && help.stdout.contains(#""custom""#))
        #expect(!help.stdout.contains("correlationID"))

        let metadata = try await metadataByType(cli, ["read", "order-1"])
        #expect(metadata["Full"]?["correlationId"] as? String == "corr-1")
        #expect(metadata["Full"]?["causationId"] as? String == "cause-1")
        #expect(metadata["Full"]?["custom"] as? [String: String] == ["tenant": "acme"])
        #expect(metadata["CorrelationOnly"]?["correlationId"] as? String == "corr-2")
        #expect(metadata["CausationOnly"]?["causationId"] as? String == "cause-3")
        #expect(metadata["CustomOnly"]?["custom"] as? [String: String] == ["user": "zoë"])
        #expect(metadata["Nulls"]?["correlationId"] is NSNull)
        #expect(metadata["OldExport"]?["correlationId"] as? String == "corr-5")
        #expect(metadata["OldExport"]?["causationId"] as? String == "cause-5")
        #expect(metadata["OldExport"]?["custom"] as? [String: String] == ["tenant": "old"])
        // Output never uses the storage keys.
        for value in metadata.values { #expect(Set(value.keys) == ["correlationId", "causationId", "custom"]) }

        // The lines read back are accepted as input, unchanged, by another store.
        let exported = try await cli.run(["export"])
        let target = cli.directory.appendingPathComponent("copy.sqlite").path
        let imported = try await cli.run(["import", "--store", target], input: exported.stdout, store: false)
        #expect(imported.status == 0, "\(imported.stderr)")
        let copy = try await cli.run(["export", "--store", target], store: false)
        func strip(_ text: String) -> [String] { text.split(separator: "\n").map { String($0).replacing(/"recordedAt":"[^"]*",?/, with: "") } }
        #expect(strip(copy.stdout) == strip(exported.stdout))
    }

    @Test func anUnknownMetadataKeyIsRefusedNamingTheLineAndTheKey() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        // The spelling `append --help` used to document: it was silently dropped before.
        let input = """
            {"type":"Fine","data":{},"metadata":{"correlationId":"ok"}}
            {"type":"Typo","data":{},"metadata":{"correlationID":"req-1"}}
            """
        let appended = try await cli.run(["append", "order-1"], input: input)
        #expect(appended.status == 1)
        #expect(appended.stderr.contains("line 2"), "\(appended.stderr)")
        #expect(appended.stderr.contains(#""correlationID""#), "\(appended.stderr)")
        #expect(appended.stderr.contains(#"did you mean "correlationId""#), "\(appended.stderr)")
        #expect(appended.stderr.contains("Nothing was written"), "\(appended.stderr)")
        let read = try await cli.run(["read", "order-1"])
        #expect(read.status == 1 || !read.stdout.contains("Fine"), "nothing of the append is stored")

        let imported = try await cli.run(["import"], input: #"{"stream":"a-1","version":1,"type":"X","data":{},"metadata":{"tenant":"acme"}}"#)
        #expect(imported.status == 1)
        #expect(imported.stderr.contains("line 1") && imported.stderr.contains(#""tenant""#), "\(imported.stderr)")
        // A key mixing the storage and user forms is not the old export form: refused too.
        let mixed = try await cli.run(["append", "order-2"], input: #"{"type":"X","data":{},"metadata":{"c":"a","correlationId":"b"}}"#)
        #expect(mixed.status == 1)
        #expect(mixed.stderr.contains(#""c""#), "\(mixed.stderr)")
        // An unknown key beside the event's own keys is refused as well.
        let extra = try await cli.run(["append", "order-3"], input: #"{"type":"X","data":{},"metadatas":{}}"#)
        #expect(extra.status == 1)
        #expect(extra.stderr.contains("line 1") && extra.stderr.contains(#""metadatas""#), "\(extra.stderr)")
    }

    @Test func unknownMetadataKeysAreATypedErrorNamingLineAndKey() throws {
        #expect {
            _ = try parseEventLine(#"{"type":"X","data":{},"metadata":{"correlationId":"a","tenant":"b"}}"#, line: 7)
        } throws: { error in
            guard let error = error as? CLIError else { return false }
            return error.code == .invalidMetadata && error.description.contains("line 7") && error.description.contains(#""tenant""#)
        }
    }

    @Test func everyPayloadReadsBackByteForByteFromItsLine() throws {
        let payloads: [String: Data] = [
            "json": Data(#"{"b":1,"a":[1.50,"x"]}"#.utf8),
            "pretty json": Data("{\n  \"a\": 1\n}\n".utf8),
            "text": Data("plain text, not JSON".utf8),
            "bytes": Data([0xFF, 0x00, 0xFE]),
            "json string": Data(#""just a string""#.utf8),
        ]
        for (name, payload) in payloads {
            let event = RecordedEvent(
                id: UUID(), streamID: "order-1", streamVersion: StreamVersion(3), position: GlobalPosition(9), type: "Happened",
                schemaVersion: 2, payload: payload, metadata: EventMetadata(correlationID: "c\"1", custom: ["k": "v\n"]), recordedAt: Date()
            )
            let line = String(decoding: eventLineJSON(event), as: UTF8.self)
            #expect(!line.contains("\n"), "\(name) stays on one line")
            let parsed = try parseEventLine(line, line: 1)
            #expect(parsed.payload == payload, "\(name): \(line)")
            #expect(parsed.metadata == event.metadata)
            #expect(parsed.id == event.id)
        }
    }
}
