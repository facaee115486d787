// A helper process for ChronicleRelayTests' kill loop: runs an outbound relay over a store file
// until it has delivered everything, or until it is killed.
//
// Usage: ChronicleRelayWorker <store-path> <relay-file> <endpoint> <secret> <partitions>
//
// The relay is an SQLiteProcessManager running an EventRelay (checkpoint and parked events in
// <relay-file>). It exits 0 once its checkpoint reaches the store's head, printing "done <head>".
import Chronicle
import ChronicleRelay
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Logging

ChildProcess.exitWhenOrphaned()  // a crashed test run leaves no helper process behind

let arguments = CommandLine.arguments
guard arguments.count == 6, let endpoint = URL(string: arguments[3]), let partitions = Int(arguments[5]) else {
    FileHandle.standardError.write(Data("usage: ChronicleRelayWorker <store-path> <relay-file> <endpoint> <secret> <partitions>\n".utf8))
    exit(2)
}
let logger = Logger(label: "relay-worker", factory: { _ in SwiftLogNoOpLogHandler() })

do {
    var configuration = SQLiteEventStore.Configuration()
    configuration.logger = logger
    let store = try SQLiteEventStore(path: arguments[1], configuration: configuration)
    let head = try await store.headPosition()
    let relay = try EventRelay(
        name: "kill-relay",
        configuration: .init(
            endpoint: endpoint, secret: RelaySecret(arguments[4]), connectTimeout: .seconds(2), requestTimeout: .seconds(5),
            retry: RelayRetryPolicy(maxAttempts: 1000, baseDelay: .milliseconds(10), maxDelay: .milliseconds(100)),
            circuitBreaker: CircuitBreakerPolicy(failureThreshold: 50, coolDown: .milliseconds(100))
        ),
        logger: logger
    )
    let runner = try SQLiteProcessManager(
        relay, path: arguments[2], source: .observing(store), failurePolicy: EventRelay.failurePolicy,
        partitioning: try .byStream(partitions), filter: relay.filter, standbyPollInterval: .milliseconds(20), logger: logger
    )
    let running = Task { try await runner.run() }
    try await runner.waitUntil(position: head, timeout: .seconds(600))
    running.cancel()
    try await running.value
    try await relay.shutdown()
    print("done \(head)")
    exit(0)
} catch {
    FileHandle.standardError.write(Data("ChronicleRelayWorker: \(error)\n".utf8))
    exit(1)
}
