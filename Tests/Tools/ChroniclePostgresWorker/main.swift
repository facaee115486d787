// A child process for ChroniclePostgresTests. Usage:
//   ChroniclePostgresWorker append <url> <schema> <tag> <count>
//       appends <count> single-event appends to streams proc<tag>-0…3, then prints "done <count>"
//   ChroniclePostgresWorker lease <url> <schema> <name>
//       waits for the lease, prints "acquired <pid>", and holds it until killed
//   ChroniclePostgresWorker project <url> <schema> <consumer> <runner-id>
//       competes for the lease "projection.<consumer>"; while holding it, follows the log from the
//       consumer's checkpoint, inserting (position, event id, runner id) into <schema>.projected
//       in the same transaction as the checkpoint; prints "acquired <pid>"; runs until killed
//   ChroniclePostgresWorker read-model <url> <schema> <name> <runner-id> [<page-size>]
//       runs a PostgresReadModel <name> whose projector inserts (position, runner id) into its
//       generation's table `projected`; prints "standby <pid>" while another instance runs it and
//       "running <pid>" once it runs it; runs until killed
//   ChroniclePostgresWorker seats <url> <schema> <rounds> <tasks> <tag>
//       races for the last seat of courses mp-0… with conditional appends (LastSeatRace.contend);
//       prints "seats <won> <decisions>"
import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import PostgresNIO

ChildProcess.exitWhenOrphaned()  // a crashed test run leaves no helper process behind

func say(_ line: String) {
    // Unbuffered: the parent waits for these lines while this process keeps running.
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ChroniclePostgresWorker: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count >= 4 else { fail("usage: append|lease <url> <schema> …") }
let settings: PostgresConnectionSettings
let schema: PostgresSchemaName
do {
    settings = try PostgresConnectionSettings(url: arguments[2])
    schema = try PostgresSchemaName(arguments[3])
} catch {
    fail("\(error)")
}

switch arguments[1] {
case "append":
    guard arguments.count == 6, let count = Int(arguments[5]) else { fail("usage: append <url> <schema> <tag> <count>") }
    let tag = arguments[4]
    let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-test-worker", maximumConnections: 4))
    let store = PostgresEventStore(client: client, schema: schema)
    do {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await store.migrate()  // idempotent; lets the worker also serve as a quick load generator
            // Four concurrent appenders in this process, each on its own stream.
            try await withThrowingTaskGroup(of: Void.self) { appenders in
                for lane in 0..<4 {
                    appenders.addTask {
                        var i = lane
                        while i < count {
                            let event = EventData(type: "WorkerWrote", payload: Data("\(tag)/\(i)".utf8))
                            try await store.append(event, to: StreamID(category: "proc\(tag)", id: "\(lane)"), expectedVersion: .any)
                            i += 4
                        }
                    }
                }
                try await appenders.waitForAll()
            }
            group.cancelAll()
        }
    } catch {
        fail("append failed: \(error)")
    }
    say("done \(count)")

case "lease":
    guard arguments.count == 5 else { fail("usage: lease <url> <schema> <name>") }
    let configuration: PostgresConnection.Configuration
    do {
        configuration = try settings.connectionConfiguration(applicationName: "chronicle-test-lease")
    } catch {
        fail("\(error)")
    }
    let lease = PostgresLease(name: arguments[4], schema: schema, connection: configuration, retryInterval: .milliseconds(50), heartbeatInterval: .milliseconds(200))
    do {
        try await lease.run {
            say("acquired \(getpid())")
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    } catch {
        fail("lease failed: \(error)")
    }

case "project":
    guard arguments.count == 6 else { fail("usage: project <url> <schema> <consumer> <runner-id>") }
    let consumer = arguments[4], runner = arguments[5]
    let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-test-projector", maximumConnections: 4))
    let store = PostgresEventStore(client: client, schema: schema)
    let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
    do {
        let lease = PostgresLease(
            name: "projection.\(consumer)", schema: schema, connection: try settings.connectionConfiguration(applicationName: "chronicle-test-lease"),
            retryInterval: .milliseconds(50), heartbeatInterval: .milliseconds(200)
        )
        let watcher = PostgresHeadWatcher(store: store, connection: try settings.connectionConfiguration(applicationName: "chronicle-test-watcher"), pollInterval: .milliseconds(100))
        let insert = "INSERT INTO \"\(schema.rawValue)\".projected (position, event_id, runner) SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[])"
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { try await watcher.run() }
            try await lease.run {
                say("acquired \(getpid())")
                try await checkpoints.follow(consumer, pageSize: 7) { events, connection in
                    var binds = PostgresBindings()
                    binds.append(events.map(\.position.value))
                    binds.append(events.map(\.id))
                    binds.append(events.map { _ in runner })
                    try await connection.statement(PostgresQuery(unsafeSQL: insert, binds: binds), logger: connection.logger)
                }
            }
            group.cancelAll()
        }
    } catch {
        fail("project failed: \(error)")
    }

case "read-model":
    guard arguments.count == 6 || arguments.count == 7, let pageSize = Int(arguments.count == 7 ? arguments[6] : "7") else {
        fail("usage: read-model <url> <schema> <name> <runner-id> [<page-size>]")
    }
    let name = arguments[4], runner = arguments[5]
    let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-test-read-model", maximumConnections: 4))
    let store = PostgresEventStore(client: client, schema: schema)
    do {
        let model = try PostgresReadModel(
            RunnerRecordingProjector(name: name, runner: runner), store: store,
            leaseConnection: try settings.connectionConfiguration(applicationName: "chronicle-test-lease"),
            options: .init(pageSize: pageSize, standbyPollInterval: .milliseconds(50), leaseRetryInterval: .milliseconds(50), leaseHeartbeatInterval: .milliseconds(200))
        )
        let watcher = PostgresHeadWatcher(store: store, connection: try settings.connectionConfiguration(applicationName: "chronicle-test-watcher"), pollInterval: .milliseconds(100))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { try await watcher.run() }
            group.addTask { try await model.run() }
            var said: ProjectionState?
            while true {
                let state = await model.status().state
                let shown: ProjectionState? = state == .standby ? .standby : (state == .running || state == .catchingUp ? .running : nil)
                if let shown, shown != said {
                    say("\(shown == .standby ? "standby" : "running") \(getpid())")
                    said = shown
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    } catch {
        fail("read-model failed: \(error)")
    }

case "seats":
    guard arguments.count == 7, let rounds = Int(arguments[4]), let tasks = Int(arguments[5]) else { fail("usage: seats <url> <schema> <rounds> <tasks> <tag>") }
    let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-test-worker", maximumConnections: tasks + 2))
    let store = PostgresEventStore(client: client, schema: schema)
    do {
        let outcome = try await withThrowingTaskGroup(of: (won: Int, decisions: Int)?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            let outcome = try await LastSeatRace.contend(store, rounds: rounds, tasks: tasks, tag: arguments[6])
            group.cancelAll()
            return outcome
        }
        say("seats \(outcome.won) \(outcome.decisions)")
    } catch {
        fail("seats failed: \(error)")
    }

default:
    fail("unknown mode \(arguments[1])")
}

/// Records which runner applied each event.
struct RunnerRecordingProjector: PostgresProjector {
    let name: String
    let runner: String
    var migrations: [PostgresReadModelMigration] {
        [PostgresReadModelMigration(1, sql: { tables in ["CREATE TABLE \(tables("projected")) (seq bigserial PRIMARY KEY, position bigint NOT NULL, runner text NOT NULL)"] })]
    }
    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {
        var binds = PostgresBindings()
        binds.append(events.map(\.position.value))
        binds.append(events.map { _ in runner })
        try await connection.statement(
            PostgresQuery(unsafeSQL: "INSERT INTO \(tables("projected")) (position, runner) SELECT * FROM unnest($1::bigint[], $2::text[])", binds: binds),
            logger: connection.logger
        )
    }
}
