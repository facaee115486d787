import Chronicle
import Foundation
import Synchronization

/// Samples of the head and of every projection's position, taken every
/// ``ConsoleConfiguration/sampleInterval``: the overview's events-per-second chart and the
/// projections' lag history. Bounded by ``ConsoleConfiguration/historyLength``.
final class ConsoleHistory: Sendable {
    struct Sample: Sendable {
        var instant: ContinuousClock.Instant
        var time: Date
        var head: Int64
        var positions: [String: Int64]
    }

    private let samples = Mutex<[Sample]>([])
    private let taking = Mutex(false)
    let interval: Duration
    let length: Int

    init(interval: Duration, length: Int) {
        self.interval = interval
        self.length = length
    }

    var all: [Sample] { samples.withLock { $0 } }

    /// Takes a sample unless the last one is more recent than the interval (or one is being
    /// taken): the sampler service and page views both call it.
    func sampleIfDue(reader: any EventReader, catalog: (any ProjectionCatalog)?) async throws {
        let due = samples.withLock { samples in
            guard let last = samples.last else { return true }
            return ContinuousClock.now - last.instant >= interval * 0.9
        }
        guard due, taking.withLock({ busy in
            if busy { return false }
            busy = true
            return true
        }) else { return }
        defer { taking.withLock { $0 = false } }
        let head = try await reader.headPosition().value
        var positions: [String: Int64] = [:]
        for status in try await catalog?.projectionStatuses() ?? [] { positions[status.name] = status.position.value }
        let sample = Sample(instant: .now, time: Date(), head: head, positions: positions)
        samples.withLock { samples in
            samples.append(sample)
            if samples.count > length { samples.removeFirst(samples.count - length) }
        }
    }

    /// Events per second between consecutive samples, oldest first.
    func rates() -> [(time: Date, perSecond: Double)] {
        let samples = all
        guard samples.count > 1 else { return [] }
        return zip(samples, samples.dropFirst()).map { previous, next in
            let seconds = Double((next.instant - previous.instant).components.seconds)
                + Double((next.instant - previous.instant).components.attoseconds) / 1e18
            return (next.time, seconds > 0 ? Double(max(0, next.head - previous.head)) / seconds : 0)
        }
    }

    /// A projection's lag at each sample, oldest first.
    func lags(of name: String) -> [(time: Date, lag: Int64)] {
        all.compactMap { sample in sample.positions[name].map { (sample.time, max(0, sample.head - $0)) } }
    }
}

/// Counts of streams and categories, bounded (a store of 100k streams is not listed whole for
/// a count) and cached for a few seconds.
final class ConsoleCounts: Sendable {
    struct Counts: Sendable {
        var streams: Int
        var streamsCapped: Bool
        var categories: Int
        var categoriesCapped: Bool
    }

    static let streamCap = 10_000
    static let categoryCap = 200
    private let cached = Mutex<(ContinuousClock.Instant, Counts)?>(nil)

    func counts(reader: any EventReader) async throws -> Counts {
        if let (when, counts) = cached.withLock({ $0 }), ContinuousClock.now - when < .seconds(10) { return counts }
        var streams = 0
        var after: StreamID?
        while streams < Self.streamCap {
            let page = try await reader.streams(category: nil, after: after, limit: 1000)
            streams += page.count
            guard page.count == 1000, let last = page.last else { break }
            after = last.id
        }
        let categories = try await ConsoleReads.categories(reader, after: nil, limit: Self.categoryCap)
        let counts = Counts(
            streams: min(streams, Self.streamCap), streamsCapped: streams >= Self.streamCap,
            categories: categories.names.count, categoriesCapped: categories.more
        )
        cached.withLock { $0 = (.now, counts) }
        return counts
    }
}

/// The console's reads over any ``EventReader``, each bounded.
enum ConsoleReads {
    /// The key after every stream id of `category` that has a `-` (ids sort by their UTF-8
    /// bytes in both backends; U+10FFFF is the largest scalar).
    static func pastCategory(_ category: String) -> StreamID {
        StreamID(unchecked: category + "-\u{10FFFF}")
    }

    /// Categories in id order after `after` (exclusive): one one-row read per category, at
    /// most `limit + 1` categories read.
    static func categories(_ reader: any EventReader, after: String?, limit: Int) async throws -> (names: [String], more: Bool) {
        var names: [String] = []
        var cursor: StreamID? = after.map { StreamID(unchecked: $0) }
        var reads = 0
        while names.count <= limit, reads < 4 * (limit + 1) {
            reads += 1
            guard let stream = try await reader.streams(category: nil, after: cursor, limit: 1).first else { break }
            let category = stream.id.category
            if category != after, category != names.last { names.append(category) }
            cursor = stream.id.idWithinCategory == nil ? stream.id : pastCategory(category)
        }
        let more = names.count > limit
        return (Array(names.prefix(limit)), more)
    }

    /// Streams whose id starts with `prefix`, in id order, after `after`.
    static func streams(
        _ reader: any EventReader, prefix: String?, category: String?, after: StreamID?, limit: Int
    ) async throws -> (streams: [StreamInfo], more: Bool) {
        var found: [StreamInfo] = []
        var start = after
        if let prefix, !prefix.isEmpty {
            // Ids starting with the prefix sort together, right after the prefix itself.
            if after == nil || after!.rawValue < prefix {
                let exact = StreamID(unchecked: prefix)
                if category == nil || exact.category == category {
                    let version = try await reader.streamVersion(of: exact)
                    if version > .initial {
                        let last = try await reader.readStream(exact, from: .max, direction: .backwards, limit: 1).first
                        found.append(StreamInfo(id: exact, version: version, lastPosition: last?.position ?? .start))
                    }
                }
                start = exact
            }
        }
        let page = try await reader.streams(category: category, after: start, limit: limit + 1 - found.count)
        for stream in page {
            if let prefix, !prefix.isEmpty, !stream.id.rawValue.hasPrefix(prefix) { return (found, false) }
            found.append(stream)
        }
        let more = found.count > limit
        return (Array(found.prefix(limit)), more)
    }

    /// The event at `position`, if any.
    static func event(_ reader: any EventReader, at position: Int64) async throws -> RecordedEvent? {
        guard position > 0 else { return nil }
        let events = try await reader.readAll(after: GlobalPosition(position - 1), limit: 1)
        return events.first.flatMap { $0.position.value == position ? $0 : nil }
    }

    /// The event's cause, effects and correlated events found within `window` positions.
    struct Chain {
        var cause: RecordedEvent?
        var causeSearched: Bool
        var effects: [RecordedEvent] = []
        var correlated: [RecordedEvent] = []
        var from: Int64
        var through: Int64
    }

    static func chain(_ reader: any EventReader, of event: RecordedEvent, window: Int, maximumListed: Int = 50) async throws -> Chain {
        let id = event.id.uuidString.lowercased()
        let causeID = event.metadata.causationID?.lowercased()
        let correlation = event.metadata.correlationID
        let start = max(0, event.position.value - 1 - Int64(window))
        var chain = Chain(causeSearched: causeID != nil, from: start + 1, through: event.position.value)
        var after = GlobalPosition(start)
        var remaining = 2 * window + 1
        while remaining > 0 {
            let wanted = min(500, remaining)
            let page = try await reader.readAll(after: after, limit: wanted)
            for candidate in page where candidate.position != event.position {
                if let causeID, candidate.position < event.position, candidate.id.uuidString.lowercased() == causeID { chain.cause = candidate }
                if candidate.position > event.position, candidate.metadata.causationID?.lowercased() == id, chain.effects.count < maximumListed {
                    chain.effects.append(candidate)
                }
                if let correlation, candidate.metadata.correlationID == correlation, chain.correlated.count < maximumListed {
                    chain.correlated.append(candidate)
                }
            }
            remaining -= page.count
            if let last = page.last {
                after = last.position
                chain.through = max(chain.through, last.position.value)
            }
            if page.count < wanted { break }
        }
        return chain
    }
}

/// Payloads for people: JSON re-indented (byte for byte the same tokens), other UTF-8 text as
/// it is, bytes as a hex dump.
enum PayloadText {
    enum Kind { case json, text, binary }

    static func render(_ payload: Data) -> (kind: Kind, text: String) {
        if PayloadFormat.isJSON(payload), let text = String(data: payload, encoding: .utf8) { return (.json, indent(text)) }
        if !payload.contains(0), let text = String(validating: payload, as: UTF8.self) { return (.text, text) }
        let shown = payload.prefix(512)
        var lines: [String] = []
        var offset = 0
        while offset < shown.count {
            let row = shown.dropFirst(offset).prefix(16)
            lines.append(String(format: "%08x  ", offset) + row.map { String(format: "%02x", $0) }.joined(separator: " "))
            offset += 16
        }
        if payload.count > shown.count { lines.append("… \(payload.count - shown.count) more bytes") }
        return (.binary, lines.joined(separator: "\n"))
    }

    /// Re-indents JSON text with two spaces, leaving strings and numbers untouched.
    static func indent(_ json: String) -> String {
        var out = ""
        var depth = 0
        var inString = false
        var escaped = false
        var previous: Character = " "
        func newline() { out += "\n" + String(repeating: "  ", count: depth) }
        for character in json {
            if inString {
                out.append(character)
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" {
                    inString = false
                    previous = "\""
                }
                continue
            }
            switch character {
            case " ", "\n", "\r", "\t":
                continue
            case "\"":
                inString = true
                out.append(character)
            case "{", "[":
                out.append(character)
                depth += 1
                newline()
            case "}", "]":
                depth -= 1
                if previous == "{" || previous == "[" {
                    // An empty object or array stays on one line.
                    out = String(out.dropLast(1 + 2 * (depth + 1)))
                } else {
                    newline()
                }
                out.append(character)
            case ",":
                out.append(character)
                newline()
            case ":":
                out += ": "
            default:
                out.append(character)
            }
            previous = character
        }
        return out
    }
}
