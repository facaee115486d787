import Chronicle
import Foundation

extension ScenarioRunner {
    /// CODEC: the payload codec alone, no database. Encodes and decodes `events` (default 200,000)
    /// `Deposited` payloads with Foundation's `JSONEncoder`/`JSONDecoder` and with Chronicle's
    /// `ChronicleJSONEncoder`/`ChronicleJSONDecoder`, then the same through `JSONEventCodec` (its
    /// default, Chronicle's coder, and one given Foundation's coders). One line per measurement,
    /// `op` naming it; `verified` = both coders produced the same bytes and values.
    func codecs() async throws {
        let total = events(default: 200_000)
        let values = (0..<1000).map { Deposited(seq: $0 * 7919) }
        let foundationEncoder = JSONEncoder()
        foundationEncoder.outputFormatting = [.sortedKeys]
        let foundationDecoder = JSONDecoder()
        let chronicleEncoder = ChronicleJSONEncoder()
        let chronicleDecoder = ChronicleJSONDecoder()
        let payloads = try values.map { try foundationEncoder.encode($0) }
        let sameBytes = try values.allSatisfy { try chronicleEncoder.encode($0) == foundationEncoder.encode($0) }
        let sameValues = try payloads.enumerated().allSatisfy { index, payload in
            try chronicleDecoder.decode(Deposited.self, from: payload) == values[index]
        }
        let verified = sameBytes && sameValues

        func measure(_ op: String, _ body: (Int) throws -> Int) throws {
            var checksum = 0
            for index in 0..<min(total, 10_000) { checksum &+= try body(index % 1000) }  // warm-up
            let stopwatch = Stopwatch()
            for index in 0..<total { checksum &+= try body(index % 1000) }
            let timing = stopwatch.stop()
            var report = Report(scenario: "CODEC", sync: sync, events: total, timing: timing, ops: total, op: op, verified: verified)
            report.add("us_per_op", .double(timing.seconds * 1e6 / Double(total), digits: 3))
            report.add("checksum", .int(checksum & 0xFFFF))
            report.print()
        }

        try measure("foundation-encode") { try foundationEncoder.encode(values[$0]).count }
        try measure("chronicle-encode") { try chronicleEncoder.encode(values[$0]).count }
        try measure("foundation-decode") { try foundationDecoder.decode(Deposited.self, from: payloads[$0]).amount }
        try measure("chronicle-decode") { try chronicleDecoder.decode(Deposited.self, from: payloads[$0]).amount }

        let codec = AccountEvent.codec
        let viaFoundation = JSONEventCodec<AccountEvent>(encoder: JSONEncoder(), decoder: JSONDecoder())
        let recorded = try values.indices.map { index in
            let data = try codec.encode(.deposited(values[index]), id: UUID(), metadata: .none)
            return RecordedEvent(
                id: data.id, streamID: Workload.streamID(index), streamVersion: 1, position: GlobalPosition(Int64(index + 1)),
                type: data.type, schemaVersion: data.schemaVersion, payload: data.payload, metadata: .none, recordedAt: Date())
        }
        let id = UUID()
        try measure("event-codec-encode") { try codec.encode(.deposited(values[$0]), id: id, metadata: .none).payload.count }
        try measure("event-codec-encode-foundation") { try viaFoundation.encode(.deposited(values[$0]), id: id, metadata: .none).payload.count }
        try measure("event-codec-decode") { try AccountEvent.deposit(recorded[$0]).amount }
        try measure("event-codec-decode-foundation") {
            guard case .deposited(let deposited)? = try viaFoundation.decode(recorded[$0]).first else { return 0 }
            return deposited.amount
        }
    }
}
