import Chronicle
import Foundation
import Synchronization
import Testing

/// `EventIDGenerator.timeOrdered` (the default ids): RFC 9562 version-7 layout, strictly
/// increasing within a process under real concurrency, and a counter that keeps them so when
/// the clock stands still or steps back.
@Suite struct EventIDGeneratorTests {
    /// The 16 bytes of `id`, for byte-wise comparison (how stores order them).
    static func bytes(_ id: UUID) -> [UInt8] { withUnsafeBytes(of: id.uuid) { Array($0) } }

    static func milliseconds(_ id: UUID) -> UInt64 {
        bytes(id).prefix(6).reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func isOrdered(_ a: UUID, before b: UUID) -> Bool {
        bytes(a).lexicographicallyPrecedes(bytes(b))
    }

    /// The system clock in whole Unix milliseconds, read as the generator reads it (no `Double`
    /// rounding in between).
    static func nowMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec / 1_000_000)
    }

    @Test func timeOrderedIDsCarryVersion7TheVariantAndTheMillisecondTheyWereMadeIn() {
        for _ in 0..<1000 {
            let before = Self.nowMilliseconds()
            let id = EventIDGenerator.timeOrdered()
            let after = Self.nowMilliseconds()
            let bytes = Self.bytes(id)
            #expect(bytes[6] >> 4 == 7, "version nibble of \(id)")
            #expect(bytes[8] >> 6 == 0b10, "variant bits of \(id)")
            // The id carries the time it was made, give or take a second: ahead of the clock when
            // the process made more than 4,096 ids in one millisecond (the counter carries into
            // the millisecond; the other tests beside this one make far fewer than a second's
            // worth), and behind it if the system clock is stepped back after an earlier id (the
            // ids keep increasing instead). A whole-suite run under two busy loops once saw an
            // id stamped …887 between two readings of …888, when those came from `Date()`: its
            // `Double` rounds up across a millisecond boundary. The clock is now read as the
            // generator reads it (integers), and the slack covers clock steps.
            let stamped = Self.milliseconds(id)
            #expect(stamped + 1000 >= before && stamped <= after + 1000, "\(id) says \(stamped), made in [\(before), \(after)]")
        }
        // EventData's default id is one of them.
        let data = EventData(type: "Happened", payload: Data())
        #expect(Self.bytes(data.id)[6] >> 4 == 7)
        #expect(Self.bytes(EventIDGenerator.random()).dropFirst(6).first.map { $0 >> 4 } == 4)
    }

    @Test func timeOrderedIDsIncreaseStrictlyInEveryTaskAndNeverRepeatAcrossTasks() async {
        let tasks = 8, perTask = 25_000
        let made = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    var ids: [UUID] = []
                    ids.reserveCapacity(perTask)
                    for _ in 0..<perTask { ids.append(EventIDGenerator.timeOrdered()) }
                    return ids
                }
            }
            var all: [[UUID]] = []
            for await ids in group { all.append(ids) }
            return all
        }
        for ids in made {
            let unordered = zip(ids, ids.dropFirst()).first { !Self.isOrdered($0, before: $1) }
            #expect(unordered == nil, "not increasing: \(String(describing: unordered))")
        }
        #expect(Set(made.joined()).count == tasks * perTask)
    }

    @Test func aClockThatStandsStillOrStepsBackStillGivesIncreasingIDs() {
        let clock = Mutex<UInt64>(1_700_000_000_000)
        let ids = EventIDGenerator.timeOrdered { clock.withLock { $0 } }
        var made: [UUID] = []
        // 10,000 ids in one millisecond: the 12-bit counter runs out after 4,096 and carries
        // into the millisecond field (RFC 9562, 6.2), so the stamps run ahead of the clock.
        for _ in 0..<10_000 { made.append(ids()) }
        #expect(Self.milliseconds(made[0]) == 1_700_000_000_000)
        #expect(Self.milliseconds(made[4095]) == 1_700_000_000_000)
        #expect(Self.milliseconds(made[4096]) == 1_700_000_000_001)
        #expect(Self.milliseconds(made[9999]) == 1_700_000_000_002)
        // The clock steps back a second: the ids keep increasing from where they were.
        clock.withLock { $0 = 1_699_999_999_000 }
        for _ in 0..<100 { made.append(ids()) }
        #expect(Self.milliseconds(made.last!) == 1_700_000_000_002)
        // The clock passes the stamps again: the ids follow the clock, counter back at 0.
        clock.withLock { $0 = 1_700_000_000_500 }
        made.append(ids())
        #expect(Self.milliseconds(made.last!) == 1_700_000_000_500)
        #expect(Self.bytes(made.last!)[6] & 0x0F == 0 && Self.bytes(made.last!)[7] == 0)
        let unordered = zip(made, made.dropFirst()).first { !Self.isOrdered($0, before: $1) }
        #expect(unordered == nil, "not increasing: \(String(describing: unordered))")
        #expect(Set(made).count == made.count)
        for id in made {
            #expect(Self.bytes(id)[6] >> 4 == 7 && Self.bytes(id)[8] >> 6 == 0b10)
        }
    }
}
