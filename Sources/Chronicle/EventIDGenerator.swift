public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Makes the ids of new events. Inject ``incrementing(startingAt:)`` in tests so events are
/// byte-for-byte predictable; production uses ``timeOrdered`` (the default of ``EventData`` and
/// of the repositories), or ``random`` where an id must not reveal when it was made.
///
/// ```swift
/// let ids = EventIDGenerator.incrementing()
/// ids()  // 00000000-0000-0000-0000-000000000001
/// ids()  // 00000000-0000-0000-0000-000000000002
/// ```
public struct EventIDGenerator: Sendable {
    private let generate: @Sendable () -> UUID

    /// A generator calling `generate` for each id. It must never return the same id twice.
    public init(_ generate: @escaping @Sendable () -> UUID) {
        self.generate = generate
    }

    /// The next id.
    public func callAsFunction() -> UUID { generate() }

    /// Time-ordered (version 7, RFC 9562) UUIDs: the Unix time in milliseconds in the first 48
    /// bits, a 12-bit counter, then 62 random bits from the system's secure generator. The
    /// default of ``EventData/init(id:type:schemaVersion:payload:metadata:tags:)``,
    /// ``AggregateRepository`` and ``DecisionRepository``.
    ///
    /// Ids made in one process are strictly increasing (a shared counter orders ids made in the
    /// same millisecond, and a clock stepped back does not reorder them), so a store's unique
    /// index on event ids grows at its end, where its pages are already cached, instead of
    /// touching a random page for every event. On the benchmark's workload that made 10-event
    /// appends to SQLite 1.6–1.7× faster, in C and in Chronicle alike (Docs/Performance.md).
    /// Ids from several processes interleave by millisecond; the 62 random bits keep them unique.
    ///
    /// An id tells when it was made, to the millisecond. Use ``random`` where that must not be
    /// visible to whoever sees the id.
    public static let timeOrdered = EventIDGenerator { UUID.timeOrderedEventID() }

    /// Time-ordered ids as ``timeOrdered`` makes them, with their milliseconds from
    /// `milliseconds` (Unix time in milliseconds) instead of the system clock: for simulations
    /// and tests that run on a clock of their own. The ids increase strictly among themselves
    /// (whatever the clock does), not with other generators' ids.
    public static func timeOrdered(milliseconds: @escaping @Sendable () -> UInt64) -> EventIDGenerator {
        let stamps = TimeOrderedStamps(milliseconds: milliseconds)
        return EventIDGenerator { UUID.timeOrderedEventID(stamp: stamps.next()) }
    }

    /// Random (version 4) UUIDs from the system's secure generator (`getrandom` on Linux), for
    /// ids that must not reveal when they were made; ``timeOrdered`` is the default.
    ///
    /// Same ids as `UUID()`, made without `UUID()`'s cost on Linux, where it opens, reads and
    /// closes `/dev/urandom` for every id (~3 µs, against ~0.7 µs here). A store indexes them at
    /// random places: each new event's id dirties a page anywhere in the event-id index.
    public static let random = EventIDGenerator { UUID.randomEventID() }

    /// `00000000-0000-0000-0000-000000000001`, `…0002`, … counting from `start`; safe to share
    /// between tasks.
    public static func incrementing(startingAt start: UInt64 = 1) -> EventIDGenerator {
        let counter = Counter(start)
        return EventIDGenerator { UUID.counting(counter.next()) }
    }

    private final class Counter: Sendable {
        private let value: Mutex<UInt64>
        init(_ start: UInt64) { value = Mutex(start) }
        func next() -> UInt64 {
            value.withLock { value in
                defer { value &+= 1 }
                return value
            }
        }
    }
}

extension UUID {
    /// A random version-4 UUID: 122 random bits from the system's secure generator, with the
    /// version and variant bits set as RFC 9562 requires.
    @usableFromInline
    static func randomEventID() -> UUID {
        var bytes = SecureRandom.sixteenBytes()
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = (raw[6] & 0x0F) | 0x40  // version 4
            raw[8] = (raw[8] & 0x3F) | 0x80  // variant 10
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }

    /// A time-ordered version-7 UUID (RFC 9562): 48 bits of Unix milliseconds, the version, a
    /// 12-bit counter, the variant and 62 random bits. See ``EventIDGenerator/timeOrdered``.
    @usableFromInline
    static func timeOrderedEventID() -> UUID {
        timeOrderedEventID(stamp: TimeOrderedStamps.system.next())
    }

    /// The version-7 UUID of `stamp` (milliseconds << 12 | counter) and 62 fresh random bits.
    static func timeOrderedEventID(stamp: UInt64) -> UUID {
        let random = SecureRandom.sixteenBytes().0
        var bytes: (UInt64, UInt64) = (
            (stamp << 4 & 0xFFFF_FFFF_FFFF_0000) | 0x7000 | (stamp & 0x0FFF),
            random
        )
        bytes.0 = bytes.0.bigEndian
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[8] = (raw[8] & 0x3F) | 0x80  // variant 10
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }

    /// The UUID whose last 8 bytes are `n` (big-endian) and whose other bytes are zero.
    static func counting(_ n: UInt64) -> UUID {
        let b = withUnsafeBytes(of: n.bigEndian) { Array($0) }
        return UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]))
    }
}

/// Version-7 stamps: Unix milliseconds shifted left 12 bits plus a counter. Each call returns a
/// stamp greater than every earlier one of the same instance: the current millisecond with the
/// counter at 0 if the clock has moved on, else the last stamp plus one (a counter that runs
/// past 4,095 in one millisecond carries into the millisecond, as RFC 9562 allows, and the
/// stamps catch up with the clock when it passes them; a clock stepped back waits the same way).
final class TimeOrderedStamps: Sendable {
    /// The process's stamps, from the system clock (``EventIDGenerator/timeOrdered``).
    static let system = TimeOrderedStamps(milliseconds: TimeOrderedStamps.systemMilliseconds)

    private let last = Atomic<UInt64>(0)
    private let milliseconds: @Sendable () -> UInt64

    init(milliseconds: @escaping @Sendable () -> UInt64) {
        self.milliseconds = milliseconds
    }

    func next() -> UInt64 {
        let now = (milliseconds() & 0xFFFF_FFFF_FFFF) << 12
        var current = last.load(ordering: .relaxed)
        while true {
            let next = now > current ? now : current &+ 1
            let (exchanged, original) = last.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged { return next }
            current = original
        }
    }

    /// Unix time in milliseconds (48 bits hold it until the year 10889).
    @Sendable private static func systemMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) &* 1000 &+ UInt64(time.tv_nsec / 1_000_000)
    }
}

/// 16 random bytes in one system call where the platform allows it.
enum SecureRandom {
    #if canImport(Glibc)
    /// glibc's `getrandom` (2.25 and later), looked up at run time: Swift's Glibc module does not
    /// import `<sys/random.h>`.
    private typealias GetRandom = @convention(c) (UnsafeMutableRawPointer?, Int, UInt32) -> Int
    private static let getrandom: GetRandom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getrandom")
        .map { unsafeBitCast($0, to: GetRandom.self) }
    #endif

    static func sixteenBytes() -> (UInt64, UInt64) {
        var bytes: (UInt64, UInt64) = (0, 0)
        #if canImport(Darwin)
        withUnsafeMutableBytes(of: &bytes) { arc4random_buf($0.baseAddress!, 16) }
        return bytes
        #else
        #if canImport(Glibc)
        if let getrandom, withUnsafeMutableBytes(of: &bytes, { getrandom($0.baseAddress, 16, 0) }) == 16 {
            return bytes
        }
        #endif
        // SystemRandomNumberGenerator never fails (it traps if the system cannot provide randomness).
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
        #endif
    }
}
