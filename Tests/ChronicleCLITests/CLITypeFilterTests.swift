import ChronicleTestSupport
import Foundation
import Testing

/// `chronicle read --all --type A,B` and `tail --type`: the global log filtered by event type, with
/// the HTTP API's `type=` parser.
@Suite(.serialized) struct CLITypeFilterTests {
    private func types(_ result: CLIRunner.Result) throws -> [String] {
        try result.stdout.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(object["type"] as? String)
        }
    }

    @Test func readAllFiltersTheGlobalLogByType() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        _ = try await cli.run(["append", "order-1"], input: #"{"type":"OrderPlaced","data":{}}"# + "\n" + #"{"type":"OrderPaid","data":{}}"#)
        _ = try await cli.run(["append", "order-2"], input: #"{"type":"OrderPlaced","data":{}}"# + "\n" + #"{"type":"OrderShipped","data":{}}"#)

        let all = try await cli.run(["read", "--all", "--json"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(try types(all) == ["OrderPlaced", "OrderPaid", "OrderPlaced", "OrderShipped"])
        let placed = try await cli.run(["read", "--all", "--type", "OrderPlaced", "--json"])
        #expect(try types(placed) == ["OrderPlaced", "OrderPlaced"])
        let two = try await cli.run(["read", "--all", "--type", "OrderPaid,OrderShipped", "--json"])
        #expect(try types(two) == ["OrderPaid", "OrderShipped"])
        let paged = try await cli.run(["read", "--all", "--type", "OrderPlaced", "--after", "1", "--limit", "1", "--json"])
        #expect(paged.stdout.contains(#""stream":"order-2""#), "\(paged.stdout)")

        let tail = try await cli.run(["tail", "--from", "0", "--no-follow", "--type", "OrderShipped", "--json"])
        #expect(tail.status == 0, "\(tail.stderr)")
        #expect(try types(tail) == ["OrderShipped"])

        // Malformed filters and contradictory arguments are refused, not ignored.
        for args in [["read", "--all", "--type", "A,,B"], ["tail", "--type", "A,"], ["read", "order-1", "--type", "OrderPaid"], ["read"], ["read", "order-1", "--all"]] {
            let refused = try await cli.run(args)
            #expect(refused.status != 0, "\(args)")
            #expect(refused.stderr.contains("rror"), "\(args): \(refused.stderr)")
        }
    }
}
