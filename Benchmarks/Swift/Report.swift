import Foundation

/// One JSON value of a report line.
enum ReportValue {
    case int(Int)
    case double(Double, digits: Int)
    case string(String)
    case bool(Bool)

    var json: String {
        switch self {
        case .int(let value): String(value)
        case .double(let value, let digits): value.isFinite ? String(format: "%.\(digits)f", value) : "null"
        case .string(let value): "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .bool(let value): value ? "true" : "false"
        }
    }
}

/// The result of one run, printed as one JSON line in the workload's format (WORKLOAD.md §3).
struct Report {
    var scenario: String
    var sync: String
    var events: Int
    var timing: Timing
    var ops: Int
    var op: String
    var verified: Bool
    /// Scenario-specific fields, in order.
    var extra: [(String, ReportValue)] = []

    mutating func add(_ key: String, _ value: ReportValue) { extra.append((key, value)) }

    var seconds: Double { timing.seconds }

    var line: String {
        var fields: [(String, ReportValue)] = [
            ("impl", .string("chronicle")),
            ("scenario", .string(scenario)),
            ("sync", .string(sync)),
            ("events", .int(events)),
            ("seconds", .double(seconds, digits: 4)),
            ("events_per_s", .double(Double(events) / seconds, digits: 1)),
            ("ops", .int(ops)),
            ("op", .string(op)),
            ("ms_per_op", .double(seconds * 1000 / Double(max(ops, 1)), digits: 5)),
            ("verified", .bool(verified)),
            ("cpu_s", .double(timing.cpuSeconds, digits: 4)),
        ]
        fields += extra
        fields.append(("event_ids", .string(Options.idsFlag)))
        return "{" + fields.map { "\"\($0.0)\":\($0.1.json)" }.joined(separator: ",") + "}"
    }

    func print() { writeLine(line) }
}

/// Writes one line to standard output at once (unbuffered: JSON lines and the S6 barrier protocol).
func writeLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Logs to standard error (standard output carries only the JSON lines).
func log(_ message: String) {
    FileHandle.standardError.write(Data(("chronicle-bench: " + message + "\n").utf8))
}

/// How long a timed region took: wall-clock seconds (monotonic) and CPU seconds (user + system,
/// this process and its waited-for children).
struct Timing {
    var seconds: Double
    var cpuSeconds: Double
}

/// Times a region started at its creation.
struct Stopwatch {
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let cpuStart: Double

    init() {
        cpuStart = Stopwatch.cpuSeconds()
        start = clock.now
    }

    func stop() -> Timing {
        let elapsed = (clock.now - start).seconds
        return Timing(seconds: elapsed, cpuSeconds: Stopwatch.cpuSeconds() - cpuStart)
    }

    static func cpuSeconds() -> Double {
        var total = 0.0
        for who in [RUSAGE_SELF, RUSAGE_CHILDREN] {
            var usage = rusage()
            #if os(Linux)
            getrusage(__rusage_who_t(who.rawValue), &usage)
            #else
            getrusage(who, &usage)
            #endif
            for time in [usage.ru_utime, usage.ru_stime] {
                total += Double(time.tv_sec) + Double(time.tv_usec) / 1e6
            }
        }
        return total
    }
}

/// Runs `body` and times it.
func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Timing) {
    let stopwatch = Stopwatch()
    let value = try await body()
    return (value, stopwatch.stop())
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// A percentile (0…1) of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)
    return sorted[max(0, index)]
}

/// This process's peak and current resident set size in KiB (`/proc/self/status`).
func memoryStatus() -> (peakKiB: Int, currentKiB: Int) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func value(_ key: String) -> Int {
        for line in status.split(separator: "\n") where line.hasPrefix(key) {
            return Int(line.dropFirst(key.count).filter(\.isNumber)) ?? 0
        }
        return 0
    }
    return (value("VmHWM:"), value("VmRSS:"))
}

/// This process's I/O counters (`/proc/self/io`, all threads): read and write system calls
/// (`syscr`, `syscw`) and the bytes they moved (`rchar`, `wchar`, page cache included). Empty
/// where the file does not exist.
func processIO() -> [String: Int] {
    guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return [:] }
    var counters: [String: Int] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":")
        if parts.count == 2, let value = Int(parts[1].trimmingCharacters(in: .whitespaces)) {
            counters[String(parts[0])] = value
        }
    }
    return counters
}

/// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux ≥ 4.0).
func resetPeakMemory() -> Bool {
    guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? handle.close() }
    do {
        try handle.write(contentsOf: Data("5".utf8))
        return true
    } catch {
        return false
    }
}
