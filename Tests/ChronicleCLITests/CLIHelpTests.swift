import Foundation
import Testing

/// The help of every command reads as a user would type things: no Swift values leak into it.
@Suite struct CLIHelpTests {
    static let commands: [[String]] = [
        [], ["init"], ["stats"], ["streams"], ["read"], ["tail"], ["append"], ["export"], ["import"], ["verify"],
        ["projections"], ["projections", "status"], ["projections", "rebuild"],
        ["parked"], ["parked", "list"], ["parked", "retry"], ["parked", "drop"],
    ]

    @Test(arguments: commands)
    func helpShowsNoSwiftInternals(_ command: [String]) async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let help = try await cli.run(command + ["--help"], store: false)
        #expect(help.status == 0, "\(help.stderr)")
        let text = help.stdout + help.stderr
        #expect(!text.isEmpty)
        // A struct printed by Swift: `Name(field: …)`, or a bare `value:` label.
        let leak = text.range(of: #"[A-Z][A-Za-z]+\([a-zA-Z]+:"#, options: .regularExpression)
        #expect(leak == nil, "help of \(command) shows a Swift value: \(leak.map { String(text[$0]) } ?? "")")
        #expect(!text.contains("value:"), "help of \(command)")
    }

    @Test func appendHelpShowsTheExpectedVersionDefaultAsTyped() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let help = try await cli.run(["append", "--help"], store: false)
        #expect(help.stdout.contains("(default: any)"), "\(help.stdout)")
    }
}
