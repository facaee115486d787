import ChronicleTestSupport
import Foundation
import Testing

@Suite(.serialized) struct CLITests {
    @Test func initCreatesAStoreAndStatsDescribeIt() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let created = try await cli.run(["init"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("Created"))
        let stats = try await cli.run(["stats", "--json"])
        #expect(stats.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        #expect(json?["events"] as? Int == 0)
        #expect(json?["streams"] as? Int == 0)
    }

    @Test func appendReadAndStreamsRoundTrip() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let input = """
            {"type":"OrderPlaced","data":{"total":42}}
            {"type":"OrderPaid","data":"{\\"amount\\":42}","metadata":{"correlationId":"req-1"}}
            """
        let appended = try await cli.run(["append", "order-1", "--expected-version", "no-stream", "--json"], input: input)
        #expect(appended.status == 0, "\(appended.stderr)")
        #expect(appended.stdout.contains("\"version\":\"2\""))

        let read = try await cli.run(["read", "order-1", "--json"])
        #expect(read.status == 0)
        let lines = read.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].contains("\"type\":\"OrderPlaced\""))
        #expect(lines[0].contains(#""dataEncoding":"json","data":{"total":42}"#))
        #expect(lines[1].contains(#""correlationId":"req-1""#))

        let backwards = try await cli.run(["read", "order-1", "--backwards", "--limit", "1", "--json"])
        #expect(backwards.stdout.contains("OrderPaid"))
        #expect(!backwards.stdout.contains("OrderPlaced"))

        _ = try await cli.run(["append", "customer-7", "--expected-version", "any"], input: #"{"type":"Registered","data":{}}"#)
        let streams = try await cli.run(["streams", "--category", "order"])
        #expect(streams.status == 0)
        #expect(streams.stdout.contains("order-1"))
        #expect(!streams.stdout.contains("customer-7"))
        let table = try await cli.run(["stats"])
        #expect(table.stdout.contains("events"))
        #expect(table.stdout.contains("customer"))
    }

    @Test func appendWithAWrongExpectedVersionFailsAndWritesNothing() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        _ = try await cli.run(["append", "order-1", "--expected-version", "no-stream"], input: #"{"type":"A","data":{}}"#)
        let stale = try await cli.run(["append", "order-1", "--expected-version", "0"], input: #"{"type":"B","data":{}}"#)
        #expect(stale.status == 1)
        #expect(stale.stderr.contains("expected version"))
        let read = try await cli.run(["read", "order-1", "--json"])
        #expect(read.stdout.split(separator: "\n").count == 1)
    }

    @Test func malformedInputNamesTheLineAndWritesNothing() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        _ = try await cli.run(["init"])
        let input = """
            {"type":"A","data":{}}
            {"type":"B","data":{}
            """
        let result = try await cli.run(["append", "order-1"], input: input)
        #expect(result.status == 1)
        #expect(result.stderr.contains("line 2"))
        let missingType = try await cli.run(["append", "order-1"], input: #"{"data":{}}"#)
        #expect(missingType.status == 1)
        #expect(missingType.stderr.contains("line 1"))
        #expect(missingType.stderr.contains("type"))
        let stats = try await cli.run(["stats", "--json"])
        #expect(stats.stdout.contains("\"events\":0"))
    }

    @Test func missingStoreAndBadArgumentsFailClearly() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let missing = try await cli.run(["stats"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("chronicle init"))
        let badStream = try await cli.run(["read", "has space"])
        #expect(badStream.status == 1)
        let badLimit = try await cli.run(["streams", "--limit", "0"])
        #expect(badLimit.status == 64)
        let notADatabase = cli.directory.appendingPathComponent("text.sqlite").path
        try Data("hello, not a database".utf8).write(to: URL(fileURLWithPath: notADatabase))
        let foreign = try await cli.run(["stats", "--store", notADatabase], store: false)
        #expect(foreign.status == 1)
        #expect(foreign.stderr.contains("error:"))
    }

    @Test func exportThenImportIsExactAndIdempotent() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        var input = ""
        for i in 0..<50 { input += #"{"type":"Tick","data":{"i":\#(i)}}"# + "\n" }
        _ = try await cli.run(["append", "clock-a"], input: input)
        _ = try await cli.run(["append", "clock-b"], input: input)
        _ = try await cli.run(["append", "clock-a"], input: #"{"type":"Tock","data":{}}"#)
        let exportPath = cli.directory.appendingPathComponent("log.jsonl").path
        let exported = try await cli.run(["export", "--output", exportPath])
        #expect(exported.status == 0, "\(exported.stderr)")

        let target = cli.directory.appendingPathComponent("copy.sqlite").path
        let first = try await cli.run(["import", "--input", exportPath, "--store", target, "--batch", "7", "--json"], store: false)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("\"written\":101"))
        let again = try await cli.run(["import", "--input", exportPath, "--store", target, "--json"], store: false)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("\"alreadyPresent\":101"))
        #expect(again.stdout.contains("\"written\":0"))

        // The copy exports to the same lines, except for recorded-at times.
        let copyExport = try await cli.run(["export", "--store", target], store: false)
        let original = try String(contentsOfFile: exportPath, encoding: .utf8)
        func strip(_ text: String) -> [String] {
            text.split(separator: "\n").map { String($0).replacing(/"recordedAt":"[^"]*",?/, with: "") }
        }
        #expect(strip(copyExport.stdout) == strip(original))
        let verify = try await cli.run(["verify", "--store", target], store: false)
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    @Test func importRejectsAMalformedLineSayingWhichAndWhy() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let input = """
            {"stream":"a-1","version":1,"type":"X","data":"{}"}
            {"stream":"a-1","version":2,"type":"X","data":"{}"}
            not json at all
            """
        let result = try await cli.run(["import"], input: input)
        #expect(result.status == 1)
        #expect(result.stderr.contains("line 3"))
        let conflict = try await cli.run(["import"], input: #"{"stream":"a-1","version":5,"type":"X","data":"{}"}"#)
        #expect(conflict.status == 1)
        #expect(conflict.stderr.contains("line 1"))
        // A blank line inside a batch: the failing event is still named by its own line.
        let id = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
        let duplicate = """
            {"stream":"b-1","version":1,"id":"\(id)","type":"X","data":"{}"}

            {"stream":"b-1","version":2,"id":"\(id)","type":"Y","data":"{}"}
            """
        let named = try await cli.run(["import"], input: duplicate)
        #expect(named.status == 1)
        #expect(named.stderr.contains("line 3"), "\(named.stderr)")
    }

    @Test func verifyReportsAHealthyStore() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        _ = try await cli.run(["append", "order-1"], input: #"{"type":"A","data":{}}"#)
        let result = try await cli.run(["verify", "--json"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("\"ok\":true"))
    }

    @Test func tailPrintsExistingEventsAndStopsAtTheLimit() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        _ = try await cli.run(["append", "order-1"], input: "{\"type\":\"A\",\"data\":{}}\n{\"type\":\"B\",\"data\":{}}")
        let result = try await cli.run(["tail", "--from", "0", "--no-follow", "--json"])
        #expect(result.status == 0)
        #expect(result.stdout.split(separator: "\n").count == 2)
    }

    @Test func tailFollowsAppendsMadeByAnotherProcess() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        _ = try await cli.run(["append", "order-1"], input: #"{"type":"Old","data":{}}"#)
        let tail = try cli.start(["tail", "--limit", "2", "--poll-ms", "20", "--json"])
        // Append from other processes until the follower has printed two new events and exited
        // (it may start after the first appends; those are before its start and not printed).
        var appended = 0
        try await eventually("tail to print two events appended after its start and exit") {
            if tail.isRunning, appended < 200 {
                let result = try await cli.run(["append", "order-1"], input: #"{"type":"New","data":{}}"#)
                #expect(result.status == 0)
                appended += 1
            }
            return !tail.isRunning
        }
        let lines = try await tail.result().stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.contains("\"type\":\"New\"") })
    }
}
