import ArgumentParser
import Chronicle
import ChronicleSQLite
import Foundation
import GRDB

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the store's integrity: the SQLite file (SQLite stores), gap-free positions, contiguous versions per stream.",
        discussion: "Exits 1 and lists the problems when any check fails."
    )
    @OptionGroup var options: StoreOptions

    struct Report: Encodable {
        var events: Int64 = 0
        var streams = 0
        var head: Int64 = 0
        var problems: [String] = []
        var ok: Bool { problems.isEmpty }

        enum CodingKeys: String, CodingKey { case events, streams, head, problems, ok }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(events, forKey: .events)
            try c.encode(streams, forKey: .streams)
            try c.encode(head, forKey: .head)
            try c.encode(problems, forKey: .problems)
            try c.encode(ok, forKey: .ok)
        }
    }

    func run() async throws {
        try await reportingErrors {
            var report = Report()
            let opened = try await options.openAny()
            let store = opened.store
            // 1. SQLite's own integrity check, on a read-only connection.
            if opened.sqlite != nil {
                do {
                    var config = Configuration()
                    config.readonly = true
                    let queue = try DatabaseQueue(path: options.path, configuration: config)
                    let lines = try await queue.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
                    if lines != ["ok"] { report.problems += lines.prefix(20).map { "sqlite integrity_check: \($0)" } }
                    try queue.close()
                } catch {
                    report.problems.append("sqlite integrity_check could not run: \(error)")
                }
            }
            // 2. The global log: positions 1...head without a gap; versions contiguous per stream.
            report.head = try await store.headPosition().value
            var expectedPosition: Int64 = 1
            var versions: [StreamID: Int64] = [:]
            do {
                for try await event in store.allEvents(pageSize: 2000) {
                    if event.position.value != expectedPosition, report.problems.count < 100 {
                        report.problems.append("global log: expected position \(expectedPosition), found \(event.position)")
                    }
                    expectedPosition = event.position.value + 1
                    let previous = versions[event.streamID] ?? 0
                    if event.streamVersion.value != previous + 1, report.problems.count < 100 {
                        report.problems.append("stream \(event.streamID): version \(event.streamVersion) follows \(previous) (position \(event.position))")
                    }
                    versions[event.streamID] = event.streamVersion.value
                    report.events += 1
                }
            } catch let error as EventStoreError {
                report.problems.append("reading the log failed at or after position \(expectedPosition - 1): \(error.message)")
            }
            if report.events != report.head {
                report.problems.append("the log holds \(report.events) event(s) but the head position is \(report.head)")
            }
            // 3. The stream index agrees with the log.
            var listed = 0
            try await forEachStream(of: store) { info in
                listed += 1
                if versions[info.id] != info.version.value, report.problems.count < 100 {
                    report.problems.append("stream \(info.id): listed at version \(info.version) but its events end at \(versions[info.id] ?? 0)")
                }
            }
            report.streams = listed
            if listed != versions.count {
                report.problems.append("\(versions.count) stream(s) have events but \(listed) are listed")
            }
            try await opened.close()
            if options.json {
                print(try jsonString(report))
            } else if report.ok {
                print("OK: \(report.events) event(s) in \(report.streams) stream(s), positions 1–\(report.head) gap-free, versions contiguous, SQLite integrity ok.")
            } else {
                print("FAILED: \(report.problems.count) problem(s)")
                for problem in report.problems { print("  - \(problem)") }
            }
            if !report.ok { throw ExitCode.failure }
        }
    }
}
