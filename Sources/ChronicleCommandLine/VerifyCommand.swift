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
            let opened: OpenedStore
            do {
                opened = try await options.openAny()
            } catch let error as CLIError where error.code == .corruptRecord && !options.isPostgres {
                // A damaged file: report what is damaged and what can still be read, read-only.
                report.problems.append("the store cannot be opened: \(error.description)")
                await integrityCheck(&report)
                salvageScan(after: 0, into: &report)
                print(try render(report))
                throw ExitCode.failure
            }
            let store = opened.store
            // 1. SQLite's own integrity check, on a read-only connection.
            if opened.sqlite != nil { await integrityCheck(&report) }
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
                if error.code == .corruptRecord && opened.sqlite != nil {
                    salvageScan(after: expectedPosition - 1, into: &report)
                }
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
            print(try render(report))
            if !report.ok { throw ExitCode.failure }
        }
    }

    private func render(_ report: Report) throws -> String {
        if options.json { return try jsonString(report) }
        if report.ok {
            return "OK: \(report.events) event(s) in \(report.streams) stream(s), positions 1–\(report.head) gap-free, versions contiguous, SQLite integrity ok."
        }
        return (["FAILED: \(report.problems.count) problem(s)"] + report.problems.map { "  - \($0)" }).joined(separator: "\n")
    }

    /// SQLite's own integrity check, on a read-only connection.
    private func integrityCheck(_ report: inout Report) async {
        do {
            // Opens a truncated file too (read-only, so nothing is written).
            let queue = try DatabaseQueue(path: options.path, configuration: SQLiteEventStore.salvageConfiguration)
            let lines = try await queue.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(20)") }
            if lines != ["ok"] { report.problems += lines.prefix(20).map { "sqlite integrity_check: \($0)" } }
            try queue.close()
        } catch {
            report.problems.append("sqlite integrity_check could not run: \(describe(error))")
        }
    }

    /// Reads what can still be read after `position` (read-only), and reports the ranges lost.
    private func salvageScan(after position: Int64, into report: inout Report) {
        do {
            var events: Int64 = 0
            let salvage = try SQLiteEventStore.salvageEvents(path: options.path, after: GlobalPosition(position)) { _ in events += 1 }
            report.events += events
            report.head = max(report.head, salvage.lastPosition.value)
            for range in salvage.unreadable.prefix(20) {
                report.problems.append("positions \(range.lowerBound)–\(range.upperBound) cannot be read (damaged pages)")
            }
            if salvage.unreadable.count > 20 {
                report.problems.append("… and \(salvage.unreadable.count - 20) more damaged range(s)")
            }
            report.problems.append(
                "\(events) event(s) after position \(position) can still be read: `chronicle export --store \(options.path) --output salvaged.jsonl` writes every readable event (then `chronicle import` them into a new store), or restore from a backup")
        } catch {
            report.problems.append("no event can be salvaged: \(describe(error))")
        }
    }
}
