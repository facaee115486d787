import ChronicleTestSupport
import ChronicleTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The tests' helper processes end when the process that started them is gone
/// (`ChildProcess.exitWhenOrphaned()`), so a crashed test run leaves none behind to slow down or
/// break the next one.
struct OrphanedHelperTests {
    @Test func aHelperWhoseParentIsGoneEndsOnItsOwn() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tool = try builtProduct("ChronicleStoreStress").path
        // A shell starts the helper in the background (a long job: 10 million appends), prints its
        // pid, lets it start under this parent, and exits: the helper is orphaned while it runs.
        let shell = try ChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", #""$0" "$@" >/dev/null 2>&1 & echo $!; sleep 1"#, tool, directory.path("orphan.sqlite"), "10", "1", "10000000", "orphan"]
        )
        let started = try await shell.result(timeout: .seconds(30))
        let pid = try #require(Int32(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "the shell printed \(started.stdout)")
        defer { kill(pid, SIGKILL) }
        try await eventually("the orphaned helper \(pid) to end", timeout: .seconds(20)) { !Self.isRunning(pid) }
    }

    /// Whether `pid` is a live process (not gone, not a zombie waiting for its new parent to reap it).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }
}
