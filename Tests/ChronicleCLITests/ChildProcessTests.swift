import ChronicleTestSupport
import Foundation
import Testing

/// The test-support child-process runner the CLI tests (and others) rely on.
@Suite struct ChildProcessTests {
    static let shell = URL(fileURLWithPath: "/bin/sh")

    @Test func inputEnvironmentAndDirectoryReachTheChild() async throws {
        let directory = FileManager.default.temporaryDirectory.resolvingSymlinksInPath()
        let result = try await ChildProcess.run(
            Self.shell, ["-c", "cat; echo \" $CHILD_PROCESS_TEST\"; pwd"], environment: ["CHILD_PROCESS_TEST": "set"],
            currentDirectory: directory, input: Data("hello".utf8)
        )
        #expect(result.status == 0)
        #expect(!result.signalled)
        #expect(result.stdout == "hello set\n\(directory.path)\n")
    }

    @Test func outputsLargerThanAPipeBufferOnBothStreamsAreReadWhole() async throws {
        let result = try await ChildProcess.run(Self.shell, ["-c", "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.stdout.utf8.count == 300_000)
        #expect(result.stderr.utf8.count == 200_000)
    }

    @Test func whatARunningChildPrintedIsVisibleAndKillEndsIt() async throws {
        // The child stays alive until killed: that is what is tested.
        let child = try ChildProcess(Self.shell, ["-c", "echo ready; exec sleep 600"])
        try await eventually("the child to print ready") { child.stdoutSoFar == "ready\n" }
        #expect(child.isRunning)
        child.kill()
        let result = try await child.result()
        #expect(result.signalled)
        #expect(result.status == SIGKILL)
        #expect(!child.isRunning)
    }

    @Test func aChildStillRunningAtTheTimeoutIsKilledAndReported() async throws {
        let child = try ChildProcess(Self.shell, ["-c", "echo started; exec sleep 600"])
        await #expect(throws: ChildProcess.TimedOut.self) { try await child.result(timeout: .milliseconds(200)) }
        #expect(!child.isRunning)
    }
}
