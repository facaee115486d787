import Chronicle
import Crypto
import Foundation

/// What an archive file says about itself: its header (the gzip comment) holds this as JSON.
///
/// An archive file is `chronicle-<first>-<last>.jsonl.gz`: gzip (`zcat` reads it) of the events
/// of positions first…last exactly as `chronicle export` writes them (one JSON line each,
/// tombstones included), so `zcat FILE | chronicle import` works too.
struct ArchiveManifest: Codable, Equatable {
    /// The format's name and version.
    static let currentFormat = "chronicle-archive/1"

    var format = Self.currentFormat
    /// The identity of the store the events came from (see `EventArchiving.storeIdentity()`).
    var storeID: String
    /// Where that store was, for people.
    var store: String
    var firstPosition: Int64
    var lastPosition: Int64
    /// Event lines in the file (one per position).
    var events: Int64
    /// Of those, events that are not tombstones.
    var liveEvents: Int64
    /// Bytes of the uncompressed content.
    var bytes: Int64
    /// SHA-256 of the uncompressed content, in hex.
    var sha256: String
    var createdAt: Date

    /// The file name of the archive of positions first…last (zero-padded, so names sort by position).
    static func fileName(first: Int64, last: Int64) -> String {
        "chronicle-\(pad(first))-\(pad(last)).jsonl.gz"
    }

    private static func pad(_ value: Int64) -> String {
        let text = String(value)
        return text.count >= 12 ? text : String(repeating: "0", count: 12 - text.count) + text
    }

    func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> ArchiveManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(ArchiveManifest.self, from: Data(text.utf8))
    }
}

/// An archive that cannot be written, read, verified or imported: what is wrong and what to do.
struct ArchiveError: Error, CustomStringConvertible {
    enum Code: String { case notAnArchive, corrupted, truncated, checksumMismatch, foreignStore, alreadyArchived, missingDirectory, fileExists, rangeChanged, unsupportedStore }
    var code: Code
    var description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}

/// The content's running digest and counts, as lines go into or come out of an archive.
struct ArchiveDigest {
    private var hasher = SHA256()
    private(set) var bytes: Int64 = 0

    mutating func update(_ data: Data) {
        hasher.update(data: data)
        bytes += Int64(data.count)
    }

    func hex() -> String {
        hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// Reads the events of positions `first`…`last` from `store` in pages, as export lines.
func forEachArchiveLine(
    of store: any EventStore, first: Int64, last: Int64, _ body: (RecordedEvent, Data) throws -> Void
) async throws {
    var after = first - 1
    while after < last {
        let page = try await store.readAll(after: GlobalPosition(after), limit: Int(min(1000, last - after)))
        guard !page.isEmpty else { break }
        for event in page where event.position.value <= last {
            var line = Data(eventLineJSON(event))
            line.append(0x0A)
            try body(event, line)
        }
        after = page.last!.position.value
    }
    guard after >= last else {
        throw ArchiveError(.rangeChanged, "The log ended at position \(after) while reading positions \(first)–\(last). Nothing was archived.")
    }
}

/// A verified archive's content: its manifest, and its lines checked one by one.
struct ArchiveReader {
    let path: String
    private(set) var manifest: ArchiveManifest

    private var gzip: GzipReader
    private var lines: LineReader
    private var digest = ArchiveDigest()
    private var expected: Int64
    private var count: Int64 = 0
    private var live: Int64 = 0

    /// Opens `path` and reads its manifest.
    init(path: String) throws {
        self.path = path
        let gzip: GzipReader
        let first: Data
        do {
            gzip = try GzipReader(path: path)
            first = try gzip.read(upTo: 256 * 1024)
        } catch let error as GzipError {
            throw Self.archiveError(error, path: path)
        }
        guard let comment = gzip.comment else {
            throw ArchiveError(.notAnArchive, "\(path) is gzip but has no Chronicle archive header (was it written by `chronicle archive`?). To load plain exported events, use `zcat \(path) | chronicle import`.")
        }
        do {
            manifest = try ArchiveManifest.decode(comment)
        } catch {
            throw ArchiveError(.notAnArchive, "\(path) has a header that is not a Chronicle archive manifest (\(error)).")
        }
        guard manifest.format == ArchiveManifest.currentFormat else {
            throw ArchiveError(.notAnArchive, "\(path) is in format \(manifest.format); this chronicle reads \(ArchiveManifest.currentFormat). Use a newer chronicle.")
        }
        self.gzip = gzip
        expected = manifest.firstPosition
        // The first chunk was read to reach the header; hand it to the line reader first.
        var pending: Data? = first
        lines = LineReader(chunkSize: 256 * 1024) { size in
            if let chunk = pending {
                pending = nil
                return chunk
            }
            return try gzip.read(upTo: size)
        }
    }

    /// The next line and its event, checked (position in sequence, within the range), or `nil`
    /// at the end, once the content's length, line count and SHA-256 matched the manifest.
    mutating func next() throws -> (text: String, event: EventLine)? {
        let line: LineReader.Line?
        do {
            line = try lines.next()
        } catch let error as GzipError {
            throw Self.archiveError(error, path: path)
        }
        guard let line else {
            try finish()
            return nil
        }
        var raw = Data(line.text.utf8)
        raw.append(0x0A)
        digest.update(raw)
        let event: EventLine
        do {
            event = try parseEventLine(line.text, line: line.number)
        } catch let error as CLIError {
            throw ArchiveError(.corrupted, "\(path) is damaged: \(error.description) Use another copy of the archive; nothing was changed.")
        }
        guard event.position == expected, expected <= manifest.lastPosition else {
            throw ArchiveError(.corrupted, "\(path) is damaged: line \(line.number) holds position \(event.position.map(String.init) ?? "none"), where position \(expected) was expected (the archive holds \(manifest.firstPosition)–\(manifest.lastPosition)). Use another copy of the archive; nothing was changed.")
        }
        expected += 1
        count += 1
        if !Self.isTombstone(event.type) { live += 1 }
        return (line.text, event)
    }

    /// Reads to the end, checking everything; returns the manifest.
    mutating func verify() throws -> ArchiveManifest {
        while try next() != nil {}
        return manifest
    }

    private func finish() throws {
        let sha = digest.hex()
        guard sha == manifest.sha256, digest.bytes == manifest.bytes else {
            throw ArchiveError(.checksumMismatch, "\(path) fails its checksum: the content's SHA-256 is \(sha) (\(digest.bytes) bytes), the manifest says \(manifest.sha256) (\(manifest.bytes) bytes). The file is damaged: use another copy of it. Nothing was changed.")
        }
        guard count == manifest.events, expected == manifest.lastPosition + 1, live == manifest.liveEvents else {
            throw ArchiveError(.corrupted, "\(path) holds \(count) event(s) (\(live) not tombstones) up to position \(expected - 1), but its manifest says \(manifest.events) (\(manifest.liveEvents)) for \(manifest.firstPosition)–\(manifest.lastPosition). Use another copy of it.")
        }
    }

    static func isTombstone(_ type: String) -> Bool {
        type == RecordedEvent.erasedType || type == RecordedEvent.archivedType
    }

    private static func archiveError(_ error: GzipError, path: String) -> ArchiveError {
        switch error.kind {
        case .notGzip: ArchiveError(.notAnArchive, "\(error.message) An archive is a .jsonl.gz file written by `chronicle archive`.")
        case .truncated: ArchiveError(.truncated, "\(error.message) Use another copy of the archive; nothing was changed.")
        case .corrupted, .trailingData: ArchiveError(.corrupted, "\(error.message) Use another copy of the archive; nothing was changed.")
        case .io: ArchiveError(.corrupted, error.message)
        }
    }
}

extension EventLine {
    /// The event as recorded at its position (`recordedAt` is not kept by restores).
    func recordedEvent() throws -> RecordedEvent {
        guard let position, let version, let id else {
            throw ArchiveError(.corrupted, "An archived event line lacks its position, version or id.")
        }
        return RecordedEvent(
            id: id, streamID: try StreamID(stream), streamVersion: StreamVersion(version), position: GlobalPosition(position), type: type,
            schemaVersion: schemaVersion ?? 1, payload: payload, metadata: metadata, recordedAt: Date(timeIntervalSince1970: 0), tags: tags
        )
    }
}
