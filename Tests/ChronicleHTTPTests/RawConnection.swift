import ChronicleTestSupport
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain TCP connection to the test server, for what HTTP clients will not do: send half a
/// header block, cut a body short, or never read the answer.
///
/// The socket is non-blocking; waits poll it every few milliseconds up to a deadline, so no
/// thread of the cooperative pool is ever blocked.
final class RawConnection: Sendable {
    let descriptor: Int32

    /// Connects to `127.0.0.1:port`; `receiveBuffer` shrinks the socket's receive buffer (set
    /// before connecting, so it also bounds the TCP window the server may fill).
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw RawConnectionError("socket: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw RawConnectionError("connect: errno \(errno)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Sends all of `text` (small requests fit the socket buffer at once).
    func send(_ text: String) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw RawConnectionError("send: errno \(errno)") }
            bytes = bytes.dropFirst(sent)
        }
    }

    /// What can be read now without waiting, and whether the server has closed the connection.
    func readAvailable() -> (bytes: [UInt8], closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received.append(contentsOf: buffer[0..<count])
            } else if count == 0 {
                return (received, true)
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return (received, false)
            } else {
                return (received, true)  // reset by the server: closed too
            }
        }
    }

    /// Reads until the server closes the connection; returns all it sent. Throws
    /// `EventuallyTimedOut` if it is still open at `timeout`.
    func readUntilClosed(timeout: Duration = .seconds(20), fileID: String = #fileID, line: Int = #line) async throws -> String {
        var all: [UInt8] = []
        try await eventually("the server to close the connection", timeout: timeout, fileID: fileID, line: line) {
            let (bytes, closed) = readAvailable()
            all += bytes
            return closed
        }
        return String(decoding: all, as: UTF8.self)
    }

    /// Reads until what was received contains `marker`; returns all received so far.
    func read(until marker: String, timeout: Duration = .seconds(20), fileID: String = #fileID, line: Int = #line) async throws -> String {
        var all: [UInt8] = []
        try await eventually("\(marker.debugDescription) from the server", timeout: timeout, fileID: fileID, line: line) {
            all += readAvailable().bytes
            return String(decoding: all, as: UTF8.self).contains(marker)
        }
        return String(decoding: all, as: UTF8.self)
    }
}

struct RawConnectionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Log records kept in memory, to check what a test made the server log and at which level.
final class LogRecorder: Sendable {
    struct Record: Sendable {
        let level: Logger.Level
        let message: String
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { records.withLock { $0 } }

    /// Records at `level` or above.
    func records(atLeast level: Logger.Level) -> [Record] { all.filter { $0.level >= level } }

    /// Records at `level` or above, leaving out the server's own start and stop lines.
    func aboutRequests(atLeast level: Logger.Level) -> [Record] {
        records(atLeast: level).filter { !$0.message.hasPrefix("Server started") && !$0.message.hasPrefix("Shutting down") }
    }

    /// A logger writing here, at every level.
    var logger: Logger {
        Logger(label: "chronicle.http.tests") { _ in Handler(recorder: self) }
    }

    fileprivate func add(_ record: Record) { records.withLock { $0.append(record) } }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.add(Record(level: event.level, message: "\(event.message) \(event.metadata ?? [:])"))
        }
    }
}
