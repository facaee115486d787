import ArgumentParser
import ChronicleHTTP
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `swift run Shop`: serves the shop on a port. `swift run Shop --demo`: runs the whole flow
/// once against an ephemeral port and a fresh data directory, then exits (non-zero on failure).
@main
struct ShopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Shop",
        abstract: "A sample shop on Chronicle: synchronous orders, an asynchronous fulfilment saga, read models over HTTP."
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 = any free port).")
    var port = 8080

    @Option(help: "Directory of the shop's SQLite files (default .shop-data; --demo uses a fresh temporary one).")
    var data: String?

    @Option(help: "Require this bearer token on every request.")
    var token: String?

    @Flag(help: "Run the whole flow once over HTTP and exit.")
    var demo = false

    func run() async throws {
        var logger = Logger(label: "shop")
        logger.logLevel = demo ? .warning : .info
        let directory = data ?? (demo ? NSTemporaryDirectory() + "chronicle-shop-demo-\(UUID().uuidString)" : ".shop-data")
        var configuration = ReadAPIConfiguration()
        if let token { configuration.bearerTokens = [token] }
        if demo && token != nil { throw ValidationError("--demo does not send a token; leave --token out.") }

        let shop = try ShopApp(directory: directory, configuration: configuration, logger: logger)
        try await shop.seedStock()
        if demo {
            try await runDemo(shop, directory: directory, logger: logger)
        } else {
            let app = shop.makeApplication(host: host, port: port) { port in
                print(Self.instructions(port: port, directory: directory, token: token))
            }
            try await app.runService()
        }
        try await shop.store.close()
    }

    private func runDemo(_ shop: ShopApp, directory: String, logger: Logger) async throws {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = shop.makeApplication(host: "127.0.0.1", port: 0) { port in portContinuation.yield(port) }
        let group = ServiceGroup(services: [app], logger: logger)
        print("Shop demo: data in \(directory)")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            do {
                try await ShopDemo.run(port: port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func instructions(port: Int, directory: String, token: String?) -> String {
        let auth = token.map { " -H 'Authorization: Bearer \($0)'" } ?? ""
        return """
            Chronicle Shop on http://127.0.0.1:\(port) (data in \(directory)); Ctrl-C stops it gracefully.
            Try:
              curl -s\(auth) -X POST localhost:\(port)/orders -H 'Content-Type: application/json' \\
                   -d '{"customer":"ada","items":[{"sku":"tea","quantity":2}],"card":"4242"}'
              curl -s\(auth) localhost:\(port)/orders/ORDER_ID -H 'Chronicle-Min-Position: POSITION'
              curl -s\(auth) localhost:\(port)/customers/ada
              curl -sN\(auth) localhost:\(port)/feed?after=0
              curl -s\(auth) localhost:\(port)/projections
            Docs/Shop.md walks through it all.
            """
    }
}
