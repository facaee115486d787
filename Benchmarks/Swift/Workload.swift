import Chronicle
import Foundation

/// The workload's deterministic generators (WORKLOAD.md §1), identical to the C reference's.
enum Workload {
    /// splitmix64's finalizer: a bijection on 64 bits.
    static func mix64(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// `stream(i)`: 32 lowercase hex characters. The high half is a bijection of `i`, so ids never
    /// collide.
    static func streamID(_ i: Int) -> StreamID {
        let hi = mix64(UInt64(i) &+ 0x9e37_79b9_7f4a_7c15)
        let lo = mix64(hi ^ 0xd1b5_4a32_d192_ed03)
        return try! StreamID(hex(hi) + hex(lo))  // 32 hex characters: always valid
    }

    static func streamIDs(_ count: Int) -> [StreamID] { (0..<count).map(streamID) }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The positions `0..<count` in the fixed shuffled order (Fisher–Yates, splitmix64 seeded with `seed`).
    static func shuffledIndices(_ count: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<count)
        var rng = SplitMix64(state: seed)
        var i = count - 1
        while i > 0 {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
            i -= 1
        }
        return order
    }
}

/// The workload's PRNG (splitmix64).
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return Workload.mix64(state)
    }
}

/// The benchmark's domain event: a ~200-byte JSON payload once encoded.
struct Deposited: Codable, Sendable, Equatable {
    static let typeName = "Deposited"
    static let payloadTarget = 200

    var seq: Int
    var amount: Int
    var currency: String
    var memo: String

    /// The event for the workload's running counter `seq`, padded so that its JSON is ~200 bytes.
    init(seq: Int) {
        self.seq = seq
        self.amount = seq % 1000 + 1
        self.currency = "EUR"
        // {"amount":…,"currency":"EUR","memo":"…","seq":…} (sorted keys)
        let fixed = #"{"seq":,"amount":,"currency":"EUR","memo":""}"#.utf8.count
        let used = fixed + String(seq).utf8.count + String(amount).utf8.count
        self.memo = Self.padding[max(0, Self.payloadTarget - used)]
    }

    /// The padding strings by length, made once (the C program pads with `memset`; building a
    /// fresh `String(repeating:count:)` per event would charge the benchmark's own event
    /// construction, ~1.5 µs, to Chronicle).
    private static let padding = (0...payloadTarget).map { String(repeating: "x", count: $0) }
}

/// The benchmark's event type, registered for Chronicle's ``JSONEventCodec``.
enum AccountEvent: RegisteredEvent {
    case deposited(Deposited)

    static let registry = EventTypeRegistry<AccountEvent>()
        .register(Deposited.self, as: Deposited.typeName, version: 1, AccountEvent.deposited)

    var payload: any Encodable & Sendable {
        switch self {
        case .deposited(let deposited): deposited
        }
    }

    /// The codec every scenario uses (JSON payloads, sorted keys).
    static let codec = JSONEventCodec<AccountEvent>()

    /// Decodes a recorded event to its deposit.
    static func deposit(_ recorded: RecordedEvent) throws -> Deposited {
        guard case .deposited(let deposited)? = try codec.decode(recorded).first else {
            throw BenchmarkError("event at \(recorded.position) is not a deposit")
        }
        return deposited
    }
}

/// Encodes ``Deposited`` events to ``EventData`` through the codec, with the event ids `--ids`
/// asks for (time-ordered by default), and measures the payloads (one per writer).
final class DepositEncoder {
    private let codec = AccountEvent.codec
    private let ids = Options.eventIDs
    private(set) var payloadBytes = 0
    private(set) var payloadCount = 0

    func event(seq: Int) throws -> EventData {
        let data = try codec.encode(.deposited(Deposited(seq: seq)), id: ids(), metadata: .none)
        payloadBytes += data.payload.count
        payloadCount += 1
        return data
    }

    var averagePayloadBytes: Double { payloadCount == 0 ? 0 : Double(payloadBytes) / Double(payloadCount) }
}

/// The folded state of one rehydrated stream.
struct AccountState {
    var version: Int64 = 0
    var count = 0
    var sum = 0
    var contiguous = true

    mutating func evolve(_ event: RecordedEvent, _ deposited: Deposited) {
        evolve(event, amount: deposited.amount)
    }

    mutating func evolve(_ event: RecordedEvent, amount: Int) {
        if event.streamVersion.value != version + 1 { contiguous = false }
        version = event.streamVersion.value
        count += 1
        sum += amount
    }
}

/// The integer after `"amount":` in a payload, read in place without decoding the rest: the C
/// programs' minimal decode (`payload_amount`), to price what full decoding costs.
func scannedAmount(_ event: RecordedEvent) throws -> Int {
    let key = Array(#""amount":"#.utf8)
    let found: Int? = event.payload.withUnsafeBytes { bytes -> Int? in
        guard bytes.count > key.count else { return nil }
        var index = 0
        while index + key.count < bytes.count {
            if bytes[index] == key[0], zip(key.indices, key).allSatisfy({ bytes[index + $0] == $1 }) {
                var value = 0
                var digit = index + key.count
                while digit < bytes.count, bytes[digit] >= 0x30, bytes[digit] <= 0x39 {
                    value = value * 10 + Int(bytes[digit] - 0x30)
                    digit += 1
                }
                return value
            }
            index += 1
        }
        return nil
    }
    guard let found else { throw BenchmarkError("event at \(event.position) has no amount") }
    return found
}

/// The sum of `amount` over `seq` in `0..<events`.
func expectedAmountSum(events: Int) -> Int {
    var total = 0
    for seq in 0..<events { total += seq % 1000 + 1 }
    return total
}
