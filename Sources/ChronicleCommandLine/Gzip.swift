import CZlib
import Foundation

/// A gzip failure: the file is not gzip, is damaged, or ends early.
struct GzipError: Error {
    enum Kind { case notGzip, corrupted, truncated, trailingData, io }
    var kind: Kind
    var message: String
}

/// Writes a gzip file (RFC 1952, readable by `zcat`) through the system zlib, with `comment` in
/// the header (its FCOMMENT field, protected by the header CRC).
final class GzipWriter {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let header = UnsafeMutablePointer<gz_header>.allocate(capacity: 1)
    private let comment: UnsafeMutablePointer<UInt8>
    private let handle: FileHandle
    private var output = [UInt8](repeating: 0, count: 256 * 1024)
    private var finished = false
    /// Compressed bytes written so far.
    private(set) var compressedBytes: Int64 = 0

    init(handle: FileHandle, comment text: String, level: Int32 = 6) throws {
        self.handle = handle
        let bytes = Array(text.utf8) + [0]
        comment = .allocate(capacity: bytes.count)
        comment.initialize(from: bytes, count: bytes.count)
        stream.initialize(to: z_stream())
        header.initialize(to: gz_header())
        header.pointee.comment = comment
        header.pointee.hcrc = 1
        header.pointee.os = 3  // Unix
        header.pointee.time = uLong(Date().timeIntervalSince1970)
        guard chronicle_deflate_init_gzip(stream, level) == Z_OK, deflateSetHeader(stream, header) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            header.deallocate()
            comment.deallocate()
            throw GzipError(kind: .io, message: "zlib could not start a gzip stream.")
        }
    }

    /// Compresses `data` into the file.
    func write(_ data: Data) throws {
        try data.withUnsafeBytes { raw in
            guard let base = raw.bindMemory(to: Bytef.self).baseAddress else { return }
            stream.pointee.next_in = UnsafeMutablePointer(mutating: base)
            stream.pointee.avail_in = uInt(raw.count)
            try pump(flush: Z_NO_FLUSH)
        }
    }

    /// Ends the stream (the CRC-32 and length trailer), without closing the file.
    func finish() throws {
        guard !finished else { return }
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        try pump(flush: Z_FINISH)
        finished = true
    }

    private func pump(flush: Int32) throws {
        while true {
            let status = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
                stream.pointee.next_out = buffer.baseAddress
                stream.pointee.avail_out = uInt(buffer.count)
                return deflate(stream, flush)
            }
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                try handle.write(contentsOf: output[0..<produced])
                compressedBytes += Int64(produced)
            }
            if status == Z_STREAM_END { return }
            guard status == Z_OK || status == Z_BUF_ERROR else { throw GzipError(kind: .io, message: "zlib failed compressing (status \(status)).") }
            if flush == Z_NO_FLUSH && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        header.deallocate()
        comment.deallocate()
    }
}

/// Reads a gzip file written by ``GzipWriter``: its header comment, then the uncompressed bytes
/// in chunks. A damaged file (bad header, bad data, CRC-32 or length mismatch), one that ends
/// early, or one with bytes after the gzip stream throws ``GzipError``, never yields bad data
/// silently (the CRC is checked at the end: check a hash of the whole content too).
final class GzipReader {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let header = UnsafeMutablePointer<gz_header>.allocate(capacity: 1)
    private let commentBuffer: UnsafeMutablePointer<UInt8>
    private static let commentCapacity = 64 * 1024
    private let handle: FileHandle
    private var input = [UInt8]()
    private var inputOffset = 0
    private var fileEnded = false
    private var streamEnded = false
    private let path: String

    /// Opens `path` and reads the gzip header.
    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw GzipError(kind: .io, message: "Cannot read \(path): no such file or not readable.")
        }
        self.handle = handle
        commentBuffer = .allocate(capacity: Self.commentCapacity)
        commentBuffer.initialize(repeating: 0, count: Self.commentCapacity)
        stream.initialize(to: z_stream())
        header.initialize(to: gz_header())
        header.pointee.comment = commentBuffer
        header.pointee.comm_max = uInt(Self.commentCapacity - 1)
        guard chronicle_inflate_init_gzip(stream) == Z_OK, inflateGetHeader(stream, header) == Z_OK else {
            throw GzipError(kind: .io, message: "zlib could not start reading \(path).")
        }
    }

    /// The header's comment, once the header is read (after the first ``read(upTo:)``); `nil`
    /// when the header has none.
    var comment: String? {
        guard header.pointee.done == 1, header.pointee.comment != nil else { return nil }
        let text = String(cString: commentBuffer)
        return text.isEmpty ? nil : text
    }

    /// Up to `count` uncompressed bytes; empty at the end of the stream.
    func read(upTo count: Int) throws -> Data {
        if streamEnded { return Data() }
        var output = [UInt8](repeating: 0, count: max(1, count))
        var produced = 0
        while produced == 0 {
            if inputOffset >= input.count && !fileEnded {
                let chunk = try handle.read(upToCount: 64 * 1024) ?? Data()
                if chunk.isEmpty { fileEnded = true } else { input = Array(chunk); inputOffset = 0 }
            }
            let available = input.count - inputOffset
            let status = input.withUnsafeMutableBufferPointer { source -> Int32 in
                output.withUnsafeMutableBufferPointer { target -> Int32 in
                    stream.pointee.next_in = source.baseAddress.map { $0 + inputOffset }
                    stream.pointee.avail_in = uInt(available)
                    stream.pointee.next_out = target.baseAddress
                    stream.pointee.avail_out = uInt(target.count)
                    return inflate(stream, Z_NO_FLUSH)
                }
            }
            inputOffset += available - Int(stream.pointee.avail_in)
            produced = output.count - Int(stream.pointee.avail_out)
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                streamEnded = true
                let more = inputOffset < input.count ? true : !((try handle.read(upToCount: 1)) ?? Data()).isEmpty
                if more {
                    throw GzipError(kind: .trailingData, message: "\(path) has bytes after the end of its gzip stream.")
                }
                return Data(output[0..<produced])
            case Z_BUF_ERROR where fileEnded && available == 0:
                throw GzipError(kind: .truncated, message: "\(path) ends before its gzip stream does: the file is truncated.")
            case Z_BUF_ERROR:
                continue
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                if header.pointee.done == 0 && inputOffset <= 10 {
                    throw GzipError(kind: .notGzip, message: "\(path) is not a gzip file (\(reason)).")
                }
                throw GzipError(kind: .corrupted, message: "\(path) is damaged: zlib says \"\(reason)\".")
            }
        }
        return Data(output[0..<produced])
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        header.deallocate()
        commentBuffer.deallocate()
        try? handle.close()
    }
}
