import Chronicle
import ChronicleSQLite
import Foundation

/// What one S6 writer process did.
struct WriterStatistics: Codable {
    var successes = 0
    var conflicts = 0
    var attempts = 0
    var lockErrors = 0
}

extension ScenarioRunner {
    static let writerCount = 2
    static let s6Streams = 10

    /// S6: two writer processes (this executable, started with `--writer ID`), released together
    /// behind a barrier, each making N successful appends to random streams among K = 10 after a
    /// fresh read of the stream's version; conflicts are retried.
    func concurrentWriters() async throws {
        let total = events(default: 10_000)
        let perWriter = total / Self.writerCount
        let streams = Workload.streamIDs(Self.s6Streams)
        let encoder = DepositEncoder()
        let setup = try await freshBenchStore()
        for (index, stream) in streams.enumerated() {
            try await setup.store.append(try encoder.event(seq: index), to: stream, expectedVersion: .noStream)
        }
        try await setup.close()

        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var children: [(process: Process, input: FileHandle, output: LineReader)] = []
        for writer in 0..<Self.writerCount {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["--scenario", "S6", "--db", path, "--events", String(perWriter), "--sync", sync, "--writer", String(writer), "--ids", options.ids]
                + (options.pgBatches.map { ["--pg-batches", $0 == 0 ? "off" : String($0)] } ?? [])
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            children.append((process, input.fileHandleForWriting, LineReader(output.fileHandleForReading)))
        }
        // Barrier: every writer has opened its store, then all are released at once.
        for child in children where child.output.readLine() != "ready" {
            throw BenchmarkError("an S6 writer did not start")
        }
        let stopwatch = Stopwatch()
        for child in children { try child.input.write(contentsOf: Data("go\n".utf8)) }
        var statistics = WriterStatistics()
        for child in children {
            guard let line = child.output.readLine(), let result = try? JSONDecoder().decode(WriterStatistics.self, from: Data(line.utf8)) else {
                throw BenchmarkError("an S6 writer failed")
            }
            statistics.successes += result.successes
            statistics.conflicts += result.conflicts
            statistics.attempts += result.attempts
            statistics.lockErrors += result.lockErrors
        }
        for child in children { child.process.waitUntilExit() }
        let timing = stopwatch.stop()
        let exitedCleanly = children.allSatisfy { $0.process.terminationStatus == 0 }

        let opened = try await reopenBenchStore()
        let check = try await checkLog(opened.store)
        let written = Self.writerCount * perWriter
        let verified = exitedCleanly && statistics.successes == written
            && check.events == Self.s6Streams + written && check.positionsGapFree && check.versionsContiguous
            && check.versions.count == Self.s6Streams
            && check.versions.values.reduce(0) { $0 + ($1 - 1) } == Int64(written)
        var report = Report(scenario: "S6", sync: sync, events: written, timing: timing, ops: written, op: "append", verified: verified)
        try await addCommonFields(&report, encoder: encoder, on: opened)
        try await opened.close()
        report.add("writers", .int(Self.writerCount))
        report.add("writer_kind", .string("processes (spawned)"))
        report.add("conflicts", .int(statistics.conflicts))
        report.add("attempts", .int(statistics.attempts))
        report.add("lock_errors", .int(statistics.lockErrors))
        report.print()
    }

    /// One S6 writer process: opens the store, reports "ready", waits for "go", appends, reports
    /// its statistics as one JSON line.
    func concurrentWriterChild(id: Int) async throws {
        let target = events(default: 5000)
        let streams = Workload.streamIDs(Self.s6Streams)
        let encoder = DepositEncoder()
        let opened = try await reopenBenchStore(connections: 1)
        let store = opened.store
        var rng = SplitMix64(state: 1000 + UInt64(id))
        writeLine("ready")
        guard readLine() == "go" else { throw BenchmarkError("writer \(id): no start signal") }
        var statistics = WriterStatistics()
        while statistics.successes < target {
            let stream = streams[Int(rng.next() % UInt64(streams.count))]
            let event = try encoder.event(seq: id * 1_000_000_000 + statistics.successes)
            while true {
                do {
                    let current = try await store.streamVersion(of: stream)
                    statistics.attempts += 1
                    try await store.append(event, to: stream, expectedVersion: .exactly(current))
                    break
                } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                    statistics.conflicts += 1
                } catch let error as EventStoreError where error.code == .databaseBusy {
                    statistics.lockErrors += 1
                }
            }
            statistics.successes += 1
        }
        try await opened.close()
        writeLine(String(decoding: try JSONEncoder().encode(statistics), as: UTF8.self))
    }
}

/// Reads lines from a pipe (the S6 barrier protocol), a byte at a time.
final class LineReader {
    private let handle: FileHandle

    init(_ handle: FileHandle) { self.handle = handle }

    /// The next line without its newline, or `nil` at end of file.
    func readLine() -> String? {
        var bytes: [UInt8] = []
        while true {
            guard let data = try? handle.read(upToCount: 1), let byte = data.first else {
                return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}
