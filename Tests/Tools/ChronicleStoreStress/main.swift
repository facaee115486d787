// A helper process for the multi-process tests of ChronicleSQLite: appends single events to
// overlapping streams of one store file, with exact expected versions and retry on conflict,
// from several tasks at once, then prints what it wrote.
//
// Usage: ChronicleStoreStress <path> <streams> <tasks> <appends-per-task> <tag>
// Output (stdout, one line): `ok <appended> <conflicts>`; exit status 0 on success.
//
// Or: ChronicleStoreStress seats <path> <rounds> <tasks> <tag>
// races for the last seat of courses mp-0… with conditional appends (LastSeatRace.contend).
// Output: `seats <won> <decisions>`.
import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import Logging

ChildProcess.exitWhenOrphaned()  // a crashed test run leaves no helper process behind

let arguments = CommandLine.arguments
if arguments.count == 6, arguments[1] == "seats", let rounds = Int(arguments[3]), let tasks = Int(arguments[4]) {
    var configuration = SQLiteEventStore.Configuration()
    configuration.busyTimeout = .seconds(30)
    configuration.logger = Logger(label: "stress", factory: { _ in SwiftLogNoOpLogHandler() })
    do {
        let store = try SQLiteEventStore(path: arguments[2], configuration: configuration)
        let (won, decisions) = try await LastSeatRace.contend(store, rounds: rounds, tasks: tasks, tag: arguments[5])
        try await store.close()
        print("seats \(won) \(decisions)")
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("ChronicleStoreStress seats failed: \(error)\n".utf8))
        exit(1)
    }
}
guard arguments.count == 6, let streamCount = Int(arguments[2]), let taskCount = Int(arguments[3]), let appendsPerTask = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: ChronicleStoreStress <path> <streams> <tasks> <appends-per-task> <tag>\n".utf8))
    exit(2)
}
let path = arguments[1]
let tag = arguments[5]

var configuration = SQLiteEventStore.Configuration()
configuration.busyTimeout = .seconds(30)
configuration.logger = Logger(label: "stress", factory: { _ in SwiftLogNoOpLogHandler() })

do {
    let store = try SQLiteEventStore(path: path, configuration: configuration)
    let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
        for task in 0..<taskCount {
            group.addTask {
                var conflicts = 0
                for iteration in 0..<appendsPerTask {
                    let stream = StreamID(category: "acct", id: "\((task + iteration) % streamCount)")
                    let event = EventData(type: "Deposited", payload: Data(#"{"by":"\#(tag)-\#(task)","n":\#(iteration)}"#.utf8))
                    while true {
                        let version = try await store.streamVersion(of: stream)
                        do {
                            try await store.append(event, to: stream, expectedVersion: .exactly(version))
                            break
                        } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                            conflicts += 1
                        }
                    }
                }
                return conflicts
            }
        }
        var total = 0
        for try await conflicts in group { total += conflicts }
        return total
    }
    try await store.close()
    print("ok \(taskCount * appendsPerTask) \(conflicts)")
} catch {
    FileHandle.standardError.write(Data("ChronicleStoreStress failed: \(error)\n".utf8))
    exit(1)
}
