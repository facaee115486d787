import ArgumentParser
import ChronicleConsole
import ChronicleHTTP
import ChronicleRelay
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `swift run Shop`: serves the shop on a port. `swift run Shop --demo`: runs the whole flow
/// once against an ephemeral port and a fresh data directory, then exits (non-zero on failure).
/// `swift run Shop --store postgres://user:password@host:5432/db`: the same shop on PostgreSQL.
@main
struct ShopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Shop",
        abstract: "A sample shop on Chronicle: synchronous orders, an asynchronous fulfilment saga, read models over HTTP.",
        discussion: """
            The bearer token comes from the environment variable \(tokenVariable) or from --token-file \
            (both stay out of the process list); --token works too but shows in `ps`. \
            An empty token is refused: it would lock everyone out. \
            The console (http://127.0.0.1:PORT/console) reads with the same token; retrying and dropping \
            parked events there need the admin token from \(adminTokenVariable) or --admin-token-file \
            (without one, the bearer token; without either, the console is read-only).
            """
    )

    /// The environment variable holding the bearer token.
    static let tokenVariable = "SHOP_TOKEN"
    /// The environment variable holding the console's admin token.
    static let adminTokenVariable = "SHOP_ADMIN_TOKEN"

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 = any free port).")
    var port = 8080

    @Option(help: "Where the shop's data lives: a directory of SQLite files, or postgres://user:password@host:port/database (default .shop-data; --demo uses a fresh temporary directory).")
    var store: String?

    @Option(help: "Directory of the shop's SQLite files (the same as --store DIRECTORY).")
    var data: String?

    @Option(help: "The PostgreSQL schema of the shop's tables (PostgreSQL stores only).")
    var schema = "shop"

    @Option(help: "Require this bearer token on every request (visible in the process list: prefer \(tokenVariable) or --token-file).")
    var token: String?

    @Option(help: "Read the bearer token from this file (its first line).")
    var tokenFile: String?

    @Option(help: "Read the console's admin token (retry and drop parked events) from this file (its first line).")
    var adminTokenFile: String?

    @Flag(help: "Run the whole flow once over HTTP and exit.")
    var demo = false

    @Flag(help: "Run the mailer service instead of the shop: it receives the shop's order events at POST /inbox (signed with \(Mailer.secretVariable)) and lists its emails at GET /emails.")
    var mailer = false

    @Option(help: "Relay the shop's order events to this inbox URL (a mailer's http://HOST:PORT/inbox), signed with the secret in \(Mailer.secretVariable).")
    var relayTo: String?

    @Option(help: "The mailer writes the port it listens on to this file (for scripts and the demo).")
    var portFile: String?

    func run() async throws {
        var logger = Logger(label: "shop")
        logger.logLevel = demo ? .warning : .info
        if mailer {
            try await runMailer(logger: logger)
            return
        }
        let bearer = try Self.bearerToken(option: token, file: tokenFile, environment: ProcessInfo.processInfo.environment)
        if demo && bearer != nil { throw ValidationError("--demo does not send a token; leave --token, --token-file and \(Self.tokenVariable) out.") }
        if store != nil && data != nil { throw ValidationError("Give --store or --data, not both.") }
        let location = store ?? data ?? (demo ? NSTemporaryDirectory() + "chronicle-shop-demo-\(UUID().uuidString)" : ".shop-data")
        let storage = try ShopStorage.parse(location, schema: schema)
        var configuration = ReadAPIConfiguration()
        if let bearer { configuration.bearerTokens = [bearer] }
        var console = ConsoleConfiguration()
        let admin = try Self.bearerToken(option: nil, file: adminTokenFile, environment: ProcessInfo.processInfo.environment, variable: Self.adminTokenVariable)
        if let admin { console.adminTokens = [admin] }

        // The demo starts the mailer service as a second process and relays the order events to it.
        var mailerProcess: MailerProcess?
        if demo {
            var generator = SystemRandomNumberGenerator()
            let secret = (0..<4).map { _ in String(generator.next(), radix: 16) }.joined()
            let started = MailerProcess(directory: NSTemporaryDirectory() + "chronicle-shop-mailer-\(UUID().uuidString)", secret: secret)
            try await started.start()
            mailerProcess = started
        }
        let relay = try makeRelay(to: mailerProcess?.inboxURL, secret: mailerProcess?.secret, logger: logger)
        let shop: ShopApp
        do {
            shop = try await ShopApp.open(storage, configuration: configuration, console: console, relay: relay, logger: logger)
        } catch {
            try? await mailerProcess?.stop()
            try? await relay?.shutdown()
            throw error
        }
        do {
            try await shop.seedStock()
            if demo {
                try await runDemo(shop, mailer: mailerProcess, logger: logger)
                try await mailerProcess?.stop()
            } else {
                let app = try shop.makeApplication(host: host, port: port) { port in
                    print(Self.instructions(port: port, storage: storage, authenticated: bearer != nil))
                    fflush(nil)  // the URL at once, also when stdout is a pipe
                }
                // SIGTERM/SIGINT shut down gracefully, within the read API's bounds (a client
                // holding a request open cannot keep the process alive).
                try await ServiceGroup(configuration: shop.api.serviceGroupConfiguration(services: [app], logger: logger)).run()
            }
        } catch {
            try? await mailerProcess?.stop()
            try? await shop.close()
            try? await relay?.shutdown()
            throw error
        }
        try await shop.close()
        try await relay?.shutdown()
    }

    /// The relay to the mailer (`--relay-to`, or the demo's mailer), if any.
    private func makeRelay(to demoInbox: URL?, secret demoSecret: String?, logger: Logger) throws -> EventRelay? {
        var logger = logger
        // The demo shows the circuit opening once, not every retry of its outage.
        if demoInbox != nil { logger.logLevel = .error }
        guard let endpoint = demoInbox ?? relayTo.flatMap({ URL(string: $0) }) else {
            if let relayTo { throw ValidationError("--relay-to \(relayTo) is not a URL.") }
            return nil
        }
        guard let secret = demoSecret ?? ProcessInfo.processInfo.environment[Mailer.secretVariable], !secret.isEmpty else {
            throw ValidationError("--relay-to needs the secret shared with the mailer in \(Mailer.secretVariable).")
        }
        return try EventRelay(
            name: "mailer-relay",
            configuration: .init(
                endpoint: endpoint, secret: RelaySecret(secret), categories: [Order.category],
                connectTimeout: .seconds(2), requestTimeout: .seconds(10),
                // The demo's outage must not park anything: retry for as long as it takes.
                retry: RelayRetryPolicy(maxAttempts: 1000, baseDelay: .milliseconds(100), maxDelay: .seconds(2)),
                circuitBreaker: CircuitBreakerPolicy(failureThreshold: 3, coolDown: .seconds(1))
            ),
            logger: logger
        )
    }

    /// `--mailer`: the mailer service until SIGTERM or SIGINT.
    private func runMailer(logger: Logger) async throws {
        guard let secret = ProcessInfo.processInfo.environment[Mailer.secretVariable], !secret.isEmpty else {
            throw ValidationError("The mailer needs the secret shared with the shop's relay in \(Mailer.secretVariable).")
        }
        let directory = data ?? store ?? ".mailer-data"
        let portFile = self.portFile
        let app = try Mailer.makeApplication(directory: directory, host: host, port: port, secret: RelaySecret(secret), logger: logger) { port in
            if let portFile { try? String(port).write(toFile: portFile, atomically: true, encoding: .utf8) }
            print("Mailer on http://127.0.0.1:\(port) (inbox POST /inbox, emails GET /emails)")
            fflush(nil)
        }
        try await ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }

    /// The bearer token, from `--token`, `--token-file` or `SHOP_TOKEN` (at most one of them), or
    /// `nil` when none is given.
    ///
    /// - Throws: `ValidationError` for an empty token (it would lock everyone out), several
    ///   sources, or an unreadable file.
    static func bearerToken(option: String?, file: String?, environment: [String: String], variable tokenVariable: String = tokenVariable) throws -> String? {
        var sources: [(name: String, value: String)] = []
        if let option { sources.append(("--token", option)) }
        if let file {
            guard let contents = FileManager.default.contents(atPath: file), let text = String(data: contents, encoding: .utf8) else {
                throw ValidationError("Cannot read the token file \(file).")
            }
            sources.append(("--token-file \(file)", String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")))
        }
        if let variable = environment[tokenVariable] { sources.append((tokenVariable, variable)) }
        guard let source = sources.first else { return nil }
        guard sources.count == 1 else {
            throw ValidationError("The token is given by \(sources.map(\.name).joined(separator: " and ")); give it once.")
        }
        let token = source.value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw ValidationError("The token given by \(source.name) is empty: every request would be refused. Set a non-empty token, or none to serve without authentication.")
        }
        guard token.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }), token.count <= 1024 else {
            throw ValidationError("The token given by \(source.name) must be at most 1024 printable ASCII characters without spaces.")
        }
        return token
    }

    private func runDemo(_ shop: ShopApp, mailer: MailerProcess?, logger: Logger) async throws {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try shop.makeApplication(host: "127.0.0.1", port: 0) { port in portContinuation.yield(port) }
        let group = ServiceGroup(services: [app], logger: logger)
        print("Shop demo: \(shop.storage)")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            do {
                try await ShopDemo.run(port: port, mailer: mailer)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The banner. It never prints the token: the commands read it from `$SHOP_TOKEN`.
    static func instructions(port: Int, storage: ShopStorage, authenticated: Bool) -> String {
        let auth = authenticated ? " -H \"Authorization: Bearer $\(tokenVariable)\"" : ""
        return """
            Chronicle Shop on http://127.0.0.1:\(port) (\(storage)); Ctrl-C stops it gracefully.
            Console: http://127.0.0.1:\(port)/console\(authenticated ? " (sign in with $\(tokenVariable))" : "")
            Try:
              curl -s\(auth) -X POST localhost:\(port)/orders -H 'Content-Type: application/json' \\
                   -d '{"customer":"ada","items":[{"sku":"tea","quantity":2}],"card":"tok_visa_4242"}'
              curl -s\(auth) localhost:\(port)/orders/ORDER_ID -H 'Chronicle-Min-Position: POSITION'
              curl -s\(auth) localhost:\(port)/customers/ada
              curl -sN\(auth) localhost:\(port)/feed?after=0
              curl -s\(auth) localhost:\(port)/projections
            Docs/Shop.md walks through it all.
            """
    }
}
