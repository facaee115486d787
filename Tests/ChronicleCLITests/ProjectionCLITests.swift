import Foundation
import Testing

/// `projections` and `parked` through the real executables: the generic `chronicle`, and an
/// application's admin program that registers its projector (Tests/Tools/ChronicleAdminExample).
@Suite(.serialized) struct ProjectionCLITests {
    func seed(_ cli: CLIRunner) async throws {
        var input = ""
        for _ in 0..<30 { input += #"{"type":"Tick","data":{}}"# + "\n" }
        input += #"{"type":"Poison","data":{}}"# + "\n"
        for _ in 0..<9 { input += #"{"type":"Tock","data":{}}"# + "\n" }
        let appended = try await cli.run(["append", "clock-1"], input: input)
        #expect(appended.status == 0, "\(appended.stderr)")
    }

    @Test func rebuildParksThePoisonEventAndStatusShowsIt() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try await seed(cli)
        let rebuilt = try await cli.run(["projections", "rebuild", "event-counts", "--json"], tool: "ChronicleAdminExample")
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("\"eventsDone\":40"))
        #expect(rebuilt.stderr.contains("100%"))

        let status = try await cli.run(["projections", "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.count == 1)
        #expect(rows?.first?["name"] as? String == "event-counts")
        #expect(rows?.first?["position"] as? Int == 40)
        #expect(rows?.first?["lag"] as? Int == 0)
        #expect(rows?.first?["parkedCount"] as? Int == 1)
        #expect(rows?.first?["state"] as? String == "stopped")
        let table = try await cli.run(["projections"])
        #expect(table.stdout.contains("event-counts"))

        let parked = try await cli.run(["parked", "list", "event-counts"])
        #expect(parked.status == 0)
        #expect(parked.stdout.contains("31"))
        #expect(parked.stdout.contains("poison event refused"))
    }

    @Test func parkedRetrySucceedsOnceFixedAndDropRemoves() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try await seed(cli)
        _ = try await cli.run(["projections", "rebuild", "event-counts"], tool: "ChronicleAdminExample")

        // Still broken: the retry fails, says so, and the event stays parked.
        let failing = try await cli.run(["parked", "retry", "event-counts", "31"], tool: "ChronicleAdminExample")
        #expect(failing.status == 1)
        #expect(failing.stderr.contains("failed again"))

        // Fixed: the retry applies it and it leaves the dead-letter table.
        let fixed = try await cli.run(["parked", "retry", "event-counts", "31"], tool: "ChronicleAdminExample", environment: ["CHRONICLE_CURED": "1"])
        #expect(fixed.status == 0, "\(fixed.stderr)")
        let none = try await cli.run(["parked", "list", "event-counts", "--json"])
        #expect(none.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")

        // Park it again with a rebuild, then drop it from the generic tool.
        _ = try await cli.run(["projections", "rebuild", "event-counts"], tool: "ChronicleAdminExample")
        let dropped = try await cli.run(["parked", "drop", "event-counts", "31"])
        #expect(dropped.status == 0, "\(dropped.stderr)")
        let again = try await cli.run(["parked", "drop", "event-counts", "31"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("no parked event"))
    }

    @Test func commandsNeedingProjectorCodeExplainWhereToRunThem() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try await seed(cli)
        let rebuild = try await cli.run(["projections", "rebuild", "event-counts"])
        #expect(rebuild.status == 1)
        #expect(rebuild.stderr.contains("ChronicleCommandLine.register"))
        let missing = try await cli.run(["parked", "list", "nothing-here"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no read model"))
        let empty = try await cli.run(["projections"])
        #expect(empty.status == 0)
        #expect(empty.stdout.contains("No read models"))
    }
}
