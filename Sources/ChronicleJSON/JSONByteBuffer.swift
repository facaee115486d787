import Foundation

/// The fast encoder's output: a growable malloc'd byte buffer without the uniqueness checks of
/// an `Array` on every append, handed to `Data` at the end without a copy.
///
/// Not copyable in spirit: ``JSONOutput`` owns exactly one, and ``JSONEncodingState`` frees it
/// (or has given it away to a `Data` through ``takeData()``).
struct JSONByteBuffer: JSONByteSink {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int
    private var isOwned = true

    init(capacity: Int) {
        self.capacity = capacity
        base = malloc(capacity)!.assumingMemoryBound(to: UInt8.self)
    }

    /// Frees the bytes unless a `Data` took them.
    func release() {
        if isOwned { free(base) }
    }

    /// The bytes as `Data`, which now owns them.
    mutating func takeData() -> Data {
        precondition(isOwned, "the JSON bytes were handed out already")
        isOwned = false
        return Data(bytesNoCopy: base, count: count, deallocator: .free)
    }

    @inline(never)
    private mutating func grow(toAtLeast needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        base = realloc(base, newCapacity)!.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        if count == capacity { grow(toAtLeast: count + 1) }
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(contentsOf buffer: UnsafeBufferPointer<UInt8>) {
        let length = buffer.count
        guard length > 0 else { return }
        if count + length > capacity { grow(toAtLeast: count + length) }
        (base + count).update(from: buffer.baseAddress!, count: length)
        count += length
    }

    mutating func append(contentsOf bytes: some Sequence<UInt8>) {
        let appended: Void? = bytes.withContiguousStorageIfAvailable { append(contentsOf: $0) }
        if appended == nil {
            for byte in bytes { append(byte) }
        }
    }

    /// A view of some of the bytes, valid until the next append.
    subscript(range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// The written bytes, mutable in place (valid until the next append).
    var written: UnsafeMutableBufferPointer<UInt8> {
        UnsafeMutableBufferPointer(start: base, count: count)
    }
}
