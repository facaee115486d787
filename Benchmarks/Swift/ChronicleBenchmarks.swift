import Chronicle
import ChronicleSQLite
import Foundation

/// Runs the event-store workload (`/work/shared/bench/WORKLOAD.md`) through Chronicle's public
/// API and prints one JSON line per run. S1, S1c, S2, S3, S4a, S4b, S5 and S6 run on SQLite
/// (`--db PATH`) or on PostgreSQL (`--db postgres://…`, in a fresh schema `bench_<scenario>`).
///
/// ```
/// ChronicleBenchmarks --scenario S1|S1c|S2|S3|S4a|S4b|S5|S5r|S5r-pg|S6|LAT|RSS|CODEC|DCB|DCB-pg|RELAY1|RELAY16 --db PATH|postgres://URL [--events N] [--sync NORMAL|FULL] [--prefill N]
/// ```
///
/// `--pg-batches N|off` (PostgreSQL only): group commit with N statements in flight, or none
/// (`PostgresAppendBatching.off`); without it, `PostgresAppendBatching()`'s defaults.
///
/// `--ids time|random`: the writers' event ids, time-ordered (the library's default) or random
/// version-4 ones; each line reports it as `event_ids`.
///
/// `--s5-statements unnamed|prepared` (S5 on PostgreSQL): the read model's upserts as unnamed
/// statements (the default) or as postgres-nio prepared statements.
///
/// `--prefill N` (S1 on SQLite only): before the timed appends, the fresh file is filled with N
/// events in 1,000 other streams (untimed), so S1 measures appends to a store that already holds N.
@main
struct ChronicleBenchmarks {
    static func main() async {
        do {
            let options = try Options(CommandLine.arguments.dropFirst())
            // Off the main actor: sequential awaits from main would hop to the main thread and back.
            try await Task.detached { try await ScenarioRunner(options: options).run() }.value
        } catch {
            log("failed: \(error)")
            exit(1)
        }
    }
}

/// The command line.
struct Options {
    var scenario = ""
    var db = ""
    var events: Int?
    var sync = "NORMAL"
    /// S1's untimed prefill: events already in the store (in 1,000 other streams) before the timed appends.
    var prefill: Int?
    /// Set in the child processes of S6.
    var writer: Int?
    /// S4a/S4b: `full` decodes every payload through the codec (the workload's rule) in place,
    /// as `AggregateRepository` loads (`readStreamInPlace`); `copied` decodes the same from
    /// `readStream`'s `RecordedEvent`s; `amount` scans each copied payload for the one field the
    /// fold needs, as the C programs do, to price decoding.
    var decode = "full"
    /// PostgreSQL group commit: statements in flight at once (`PostgresAppendBatching`'s
    /// `concurrentBatches`), or 0 for `off`; `nil`, the batching settings' defaults.
    var pgBatches: Int?
    /// The event ids the writers make: `time` (``EventIDGenerator/timeOrdered``, the library's
    /// default) or `random` (``EventIDGenerator/random``, version 4), to price the event-id index.
    var ids = "time"
    /// S5 on PostgreSQL: the read model's upserts as `unnamed` statements (parsed and planned by
    /// the server for every event, the default) or `prepared` ones (postgres-nio's prepared
    /// statements: parsed once per connection, as psycopg does after a statement's fifth use).
    var s5Statements = "unnamed"

    /// This process's `--ids`, read once from the command line.
    static let idsFlag = (try? Options(CommandLine.arguments.dropFirst()))?.ids ?? "time"
    /// The ids this process's writers use.
    static let eventIDs: EventIDGenerator = idsFlag == "random" ? .random : .timeOrdered

    static let usage = "usage: ChronicleBenchmarks --scenario S1|S1c|S2|S3|S4a|S4b|S5|S5r|S5r-pg|S6|LAT|RSS|CODEC|DCB|DCB-pg|RELAY1|RELAY16 --db PATH|postgres://URL [--events N] [--sync NORMAL|FULL] [--prefill N (S1, SQLite)] [--decode full|copied|amount (S4a, S4b)] [--pg-batches N|off (PostgreSQL)] [--ids time|random] [--s5-statements unnamed|prepared (S5, PostgreSQL)]"

    init(_ arguments: ArraySlice<String>) throws {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { throw BenchmarkError("missing value for \(flag)\n\(Self.usage)") }
            switch flag {
            case "--scenario": scenario = value
            case "--db": db = value
            case "--events":
                guard let number = Int(value), number > 0 else { throw BenchmarkError("--events must be a positive integer") }
                events = number
            case "--sync": sync = value.uppercased()
            case "--prefill":
                guard let number = Int(value), number >= 0, number % 1000 == 0 else {
                    throw BenchmarkError("--prefill must be a multiple of 1000 (events in 1,000 streams)")
                }
                prefill = number
            case "--writer": writer = Int(value)
            case "--decode":
                guard ["full", "copied", "amount"].contains(value) else { throw BenchmarkError("--decode must be full, copied or amount") }
                decode = value
            case "--pg-batches":
                if value == "off" {
                    pgBatches = 0
                } else {
                    guard let number = Int(value), number > 0 else { throw BenchmarkError("--pg-batches must be a positive number or off, not \(value)") }
                    pgBatches = number
                }
            case "--s5-statements":
                guard value == "unnamed" || value == "prepared" else { throw BenchmarkError("--s5-statements must be unnamed or prepared") }
                s5Statements = value
            case "--ids":
                guard value == "time" || value == "random" else { throw BenchmarkError("--ids must be time or random") }
                ids = value
            default: throw BenchmarkError("unknown option \(flag)\n\(Self.usage)")
            }
        }
        if scenario.isEmpty || db.isEmpty { throw BenchmarkError(Self.usage) }
        if sync != "NORMAL" && sync != "FULL" { throw BenchmarkError("--sync must be NORMAL or FULL") }
        if prefill != nil && scenario != "S1" { throw BenchmarkError("--prefill applies to S1 only") }
        if decode != "full" && scenario != "S4a" && scenario != "S4b" { throw BenchmarkError("--decode applies to S4a and S4b only") }
        if pgBatches != nil && !(db.hasPrefix("postgres://") || db.hasPrefix("postgresql://")) { throw BenchmarkError("--pg-batches applies to PostgreSQL only") }
        if s5Statements != "unnamed" && !(scenario == "S5" && (db.hasPrefix("postgres://") || db.hasPrefix("postgresql://"))) {
            throw BenchmarkError("--s5-statements applies to S5 on PostgreSQL only")
        }
    }
}

/// A benchmark failure (bad options, failed setup or verification).
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
