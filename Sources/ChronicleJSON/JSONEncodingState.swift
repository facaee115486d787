import Foundation

/// The fast encoder's one growing output buffer, plus the stack of containers still open in it.
///
/// Values are written in place as `Codable` hands them over. An object remembers where each of
/// its members starts; when the object closes (the value that opened it finished encoding, or a
/// write arrived for an enclosing container), its members are put in the byte order of their
/// keys, as Foundation's `.sortedKeys` does. Any use of the `Codable` API that this single-pass
/// layout cannot honour exactly (writing to a container that was already closed, a repeated key,
/// a super encoder still held when its container moves on, …) marks the output unsupported,
/// and the whole value is encoded again by Foundation.
///
/// The encoders and containers share one output through ``JSONEncodingState``.
struct JSONOutput {
    struct Frame {
        var id: Int
        var isObject: Bool
        var count = 0
        var membersStart: Int
        /// Offset just after the opening bracket.
        var contentStart: Int
    }

    struct Member {
        /// The escaped key's bytes in the buffer (between the quotes).
        var keyStart: Int
        var keyEnd: Int
        /// Where `"key":value` starts.
        var segmentStart: Int
        /// The key, kept only when its bytes cannot be compared as written (escaped or non-ASCII).
        var complexKey: String?
    }

    /// Foundation's writer refuses containers nested this deep (512); we give up well before.
    static let maximumDepth = 256

    var bytes = JSONByteBuffer(capacity: 256)
    private(set) var frames: [Frame] = []
    private var members: [Member] = []
    private var nextFrameID = 0
    private(set) var unsupportedReason: String?
    private var pendingSupers: [PendingSuper] = []

    /// A value under way through `superEncoder()`. Foundation writes it when that encoder is
    /// released, so it is finished (as `{}` if it wrote nothing) on the next write to its
    /// container or an enclosing one, or when its container closes; if the encoder is still
    /// held then, Foundation decides.
    struct PendingSuper {
        var frameIndex: Int
        var mark: Int
        weak var encoder: JSONWritingEncoder?
    }

    init() {
        frames.reserveCapacity(8)
        members.reserveCapacity(16)
    }

    var isUnsupported: Bool { unsupportedReason != nil }

    /// Marks the whole encoding as one to leave to Foundation and returns the error to throw.
    @discardableResult
    mutating func giveUp(_ reason: String) -> FastJSONUnsupported {
        if unsupportedReason == nil { unsupportedReason = reason }
        return FastJSONUnsupported(reason: reason)
    }

    // MARK: Containers

    /// Opens an object or array at the current position; returns its frame index and id.
    mutating func pushFrame(isObject: Bool) throws(FastJSONUnsupported) -> (index: Int, id: Int) {
        guard frames.count < Self.maximumDepth else { throw giveUp("nesting deeper than \(Self.maximumDepth)") }
        bytes.append(isObject ? .openBrace : .openBracket)
        let id = nextFrameID
        nextFrameID += 1
        frames.append(Frame(id: id, isObject: isObject, membersStart: members.count, contentStart: bytes.count))
        return (frames.count - 1, id)
    }

    /// Makes the frame the innermost open one (closing containers nested in it), or gives up if
    /// it was closed already.
    @inline(__always)
    mutating func reopen(_ index: Int, _ id: Int) throws(FastJSONUnsupported) {
        if unsupportedReason != nil { throw FastJSONUnsupported(reason: unsupportedReason!) }
        guard index >= 0, index < frames.count, frames[index].id == id else {
            throw giveUp("write to a container that was already finished")
        }
        if !pendingSupers.isEmpty { try finishSupers(from: index) }
        while frames.count > index + 1 { try closeInnermost() }
    }

    /// Registers the slot just opened (after `"super":` or an array's comma) for a super encoder.
    mutating func beginSuper(frameIndex: Int, encoder: JSONWritingEncoder) {
        pendingSupers.append(PendingSuper(frameIndex: frameIndex, mark: bytes.count, encoder: encoder))
    }

    /// Finishes the super encoders' values in the frame at `index` and deeper ones.
    private mutating func finishSupers(from index: Int) throws(FastJSONUnsupported) {
        while let pending = pendingSupers.last, pending.frameIndex >= index {
            pendingSupers.removeLast()
            if pending.encoder != nil { throw giveUp("a super encoder still held when its container moved on") }
            while frames.count > pending.frameIndex + 1 { try closeInnermost() }
            if bytes.count == pending.mark { appendLiteral("{}") }
        }
    }

    /// Starts the next element of an array frame (which must be innermost).
    @inline(__always)
    mutating func beginElement(_ index: Int, _ id: Int) throws(FastJSONUnsupported) {
        try reopen(index, id)
        if frames[index].count > 0 { bytes.append(.comma) }
        frames[index].count += 1
    }

    /// Starts the next member of an object frame: writes `"key":`.
    @inline(__always)
    mutating func beginMember(_ index: Int, _ id: Int, key: String) throws(FastJSONUnsupported) {
        try reopen(index, id)
        if frames[index].count > 0 { bytes.append(.comma) }
        frames[index].count += 1
        let segmentStart = bytes.count
        let (keyStart, keyEnd, simple) = appendString(key)
        members.append(Member(keyStart: keyStart, keyEnd: keyEnd, segmentStart: segmentStart, complexKey: simple ? nil : key))
        bytes.append(.colon)
    }

    /// An open array's element count; reading a finished one gives up (Foundation would still
    /// know it, and a value could act on it).
    mutating func elementCount(_ index: Int, _ id: Int) -> Int {
        guard index >= 0, index < frames.count, frames[index].id == id else {
            giveUp("count of a container that was already finished")
            return 0
        }
        return frames[index].count
    }

    /// Closes every open container down to (not including) `depth`.
    mutating func close(downTo depth: Int) throws(FastJSONUnsupported) {
        while frames.count > depth { try closeInnermost() }
    }

    private mutating func closeInnermost() throws(FastJSONUnsupported) {
        if !pendingSupers.isEmpty { try finishSupers(from: frames.count - 1) }
        let frame = frames.removeLast()
        if frame.isObject {
            try sortMembers(of: frame)
            members.removeSubrange(frame.membersStart...)
            bytes.append(.closeBrace)
        } else {
            bytes.append(.closeBracket)
        }
    }

    /// Puts an object's members in the byte order of their keys (Foundation's `.sortedKeys` on
    /// Linux sorts by `key.utf8`), giving up on keys Foundation would merge (equal as Strings).
    private mutating func sortMembers(of frame: Frame) throws(FastJSONUnsupported) {
        let count = members.count - frame.membersStart
        if count < 2 { return }
        let first = frame.membersStart
        var allSimple = true
        for index in first..<members.count where members[index].complexKey != nil {
            allSimple = false
            break
        }
        if allSimple {
            // Escaped bytes are the raw bytes here: compare them in place.
            var alreadySorted = true
            for index in (first + 1)..<members.count where compareKeys(members[index - 1], members[index]) >= 0 {
                alreadySorted = false
                break
            }
            if alreadySorted { return }
            try withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { (order) throws(FastJSONUnsupported) in
                for position in 0..<count { order[position] = first + position }
                // Insertion sort: objects are small.
                for i in 1..<count {
                    let item = order[i]
                    var j = i - 1
                    while j >= 0, compareKeys(members[order[j]], members[item]) > 0 {
                        order[j + 1] = order[j]
                        j -= 1
                    }
                    order[j + 1] = item
                }
                for position in 1..<count where compareKeys(members[order[position - 1]], members[order[position]]) == 0 {
                    throw giveUp("the same key encoded twice in one container")
                }
                rewriteMembers(of: frame, in: UnsafeBufferPointer(order))
            }
        } else {
            let keys = (first..<members.count).map { index in
                members[index].complexKey ?? String(decoding: bytes[members[index].keyStart..<members[index].keyEnd], as: UTF8.self)
            }
            // Foundation keeps members in a [String: …], so keys equal as Strings (canonically
            // equivalent) collapse into one; leave that to it.
            if Set(keys).count != keys.count { throw giveUp("keys equal as Strings in one container") }
            var order = Array(first..<members.count)
            order.sort { keys[$0 - first].utf8.lexicographicallyPrecedes(keys[$1 - first].utf8) }
            if order == Array(first..<members.count) { return }
            order.withUnsafeBufferPointer { rewriteMembers(of: frame, in: $0) }
        }
    }

    /// Compares two plain keys' bytes as written.
    private func compareKeys(_ a: Member, _ b: Member) -> Int32 {
        let lengthA = a.keyEnd - a.keyStart, lengthB = b.keyEnd - b.keyStart
        let common = Swift.min(lengthA, lengthB)
        let result = common == 0 ? 0 : memcmp(bytes.base + a.keyStart, bytes.base + b.keyStart, common)
        if result != 0 { return result }
        return lengthA == lengthB ? 0 : (lengthA < lengthB ? -1 : 1)
    }

    /// Rewrites an object's content with its members in the given order, through a scratch copy.
    private mutating func rewriteMembers(of frame: Frame, in order: UnsafeBufferPointer<Int>) {
        let end = bytes.count
        let contentStart = frame.contentStart
        let buffer = bytes.written
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: end - contentStart) { scratch in
            _ = scratch.initialize(fromContentsOf: buffer[contentStart..<end])
            var write = contentStart
            for (position, index) in order.enumerated() {
                if position > 0 {
                    buffer[write] = .comma
                    write += 1
                }
                let start = members[index].segmentStart
                let segmentEnd = index + 1 < members.count ? members[index + 1].segmentStart - 1 : end
                let segmentLength = segmentEnd - start
                UnsafeMutableRawPointer(buffer.baseAddress! + write).copyMemory(
                    from: scratch.baseAddress! + (start - contentStart), byteCount: segmentLength
                )
                write += segmentLength
            }
        }
    }

    // MARK: Scalars

    @inline(__always)
    mutating func appendLiteral(_ literal: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Writes a JSON string the way Foundation's JSONWriter does (`/` escaped too; see
    /// ``JSONByteSink/appendJSONStringContent(_:escapingSlashes:)``). Returns the content range
    /// and whether the content is plain ASCII that needed no escaping.
    @discardableResult
    mutating func appendString(_ string: String) -> (start: Int, end: Int, simple: Bool) {
        bytes.append(.quote)
        let start = bytes.count
        var copy = string
        let simple = copy.withUTF8 { bytes.appendJSONStringContent($0, escapingSlashes: true) }
        let end = bytes.count
        bytes.append(.quote)
        return (start, end, simple)
    }

    /// Writes an integer in decimal, as its `description` reads.
    @inline(__always)
    mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
        bytes.appendJSONInteger(value)
    }

    /// Writes a finite float as Foundation does: its `description`, minus a trailing ".0".
    /// NaN and infinity (which Foundation refuses by default) give up.
    mutating func appendFloatingPoint<T: BinaryFloatingPoint & CustomStringConvertible>(_ value: T) throws(FastJSONUnsupported) {
        guard value.isFinite else { throw giveUp("non-finite \(T.self)") }
        let text = value.description
        var utf8 = text.utf8[...]
        if text.hasSuffix(".0") { utf8 = utf8.dropLast(2) }
        bytes.append(contentsOf: utf8)
    }
}

/// The output shared by one encoding's encoders and containers.
///
/// The output sits behind a pointer rather than in stored properties so that the hot path pays
/// no dynamic exclusivity checks (a class's stored `var`s are checked on every access).
final class JSONEncodingState {
    let output: UnsafeMutablePointer<JSONOutput>

    init() {
        output = .allocate(capacity: 1)
        output.initialize(to: JSONOutput())
    }

    deinit {
        output.pointee.bytes.release()
        output.deinitialize(count: 1)
        output.deallocate()
    }

    var isUnsupported: Bool { output.pointee.isUnsupported }
    var unsupportedReason: String? { output.pointee.unsupportedReason }
    var byteCount: Int { output.pointee.bytes.count }
    var depth: Int { output.pointee.frames.count }

    @discardableResult
    func giveUp(_ reason: String) -> FastJSONUnsupported { output.pointee.giveUp(reason) }
}
