import ChronicleTestSupport
import Foundation
import Testing

/// `chronicle read --all --tag`: events by tag through the store's index; tags survive append,
/// export and import.
@Suite(.serialized) struct CLITagTests {
    private func positions(_ result: CLIRunner.Result) throws -> [Int] {
        try result.stdout.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(object["position"] as? Int)
        }
    }

    @Test func readAllByTagAndTagsRoundTripThroughExportAndImport() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let input = [
            #"{"type":"CourseDefined","data":{},"tags":["course:c1"]}"#,
            #"{"type":"StudentSubscribed","data":{},"tags":["course:c1","student:s1"]}"#,
            #"{"type":"StudentSubscribed","data":{},"tags":["course:c2","student:s1"]}"#,
            #"{"type":"Untagged","data":{}}"#,
        ].joined(separator: "\n")
        let appended = try await cli.run(["append", "course-1"], input: input)
        #expect(appended.status == 0, "\(appended.stderr)")

        #expect(try positions(try await cli.run(["read", "--all", "--tag", "course:c1", "--json"])) == [1, 2])
        #expect(try positions(try await cli.run(["read", "--all", "--tag", "course:c1,student:s1", "--json"])) == [2])
        #expect(try positions(try await cli.run(["read", "--all", "--tag", "student:s1", "--type", "StudentSubscribed", "--after", "2", "--json"])) == [3])
        let line = try await cli.run(["read", "--all", "--tag", "course:c2", "--json"])
        #expect(line.stdout.contains(#""tags":["course:c2","student:s1"]"#), "\(line.stdout)")

        let exported = try await cli.run(["export"])
        let target = cli.directory.appendingPathComponent("copy.sqlite").path
        let imported = try await cli.run(["import", "--store", target], input: exported.stdout, store: false)
        #expect(imported.status == 0, "\(imported.stderr)")
        let copy = try await cli.run(["read", "--all", "--tag", "student:s1", "--json", "--store", target], store: false)
        #expect(try positions(copy) == [2, 3])

        for args in [["read", "--all", "--tag", "a,,b"], ["read", "--all", "--tag", ""], ["read", "course-1", "--tag", "course:c1"]] {
            let refused = try await cli.run(args)
            #expect(refused.status != 0, "\(args)")
            #expect(refused.stderr.contains("rror"), "\(args): \(refused.stderr)")
        }
        let badTag = try await cli.run(["append", "course-2"], input: #"{"type":"X","data":{},"tags":["has space"]}"#)
        #expect(badTag.status != 0)
        #expect(badTag.stderr.contains("tag"), "\(badTag.stderr)")
        #expect(try positions(try await cli.run(["read", "--all", "--json"])).count == 4)
    }
}
