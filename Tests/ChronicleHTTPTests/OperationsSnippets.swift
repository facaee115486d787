// The HTTP snippets of Docs/Operations.md ("Limits and timeouts"), verbatim: change both together.
import ChronicleHTTP
import Hummingbird
import Logging
import ServiceLifecycle

/// Serves the read API with its limits: the idle timeout on connections and a bounded shutdown.
func serve(_ api: ReadAPI, services: [any Service], logger: Logger) async throws {
    let app = Application(
        router: api.makeRouter(),
        server: api.httpServer,                      // idle and header-read timeouts
        configuration: .init(address: .hostname("0.0.0.0", port: 8080)),
        logger: logger
    )
    let group = ServiceGroup(configuration: api.serviceGroupConfiguration(services: [app] + services, logger: logger))
    try await group.run()                            // SIGTERM: graceful, then bounded
}
