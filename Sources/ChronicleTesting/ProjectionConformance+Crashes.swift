public import Chronicle

extension ProjectionConformance {
    /// A projection that runs in other OS processes, which the crash case kills.
    ///
    /// The backend's test prepares a durable log holding events at positions 1…``eventCount`` and
    /// an empty projection whose projector records, in the projection's own storage and in the
    /// same transaction as its checkpoint, every position it applies. ``startRunner`` starts a
    /// process that runs that projection (with the given page size) until it is killed or has
    /// reached the head; ``KillableRunner/kill`` sends it `SIGKILL`: no clean-up, no rollback, no
    /// flushing, like a crash or an out-of-memory kill.
    public struct CrashFixture: Sendable {
        /// How many events the log holds (positions 1…eventCount).
        public var eventCount: Int
        /// Starts a runner process with the given page size.
        public var startRunner: @Sendable (_ pageSize: Int) async throws -> KillableRunner
        /// The checkpoint as committed, read from outside the runner (zero before its first commit
        /// or before its storage exists).
        public var committed: @Sendable () async throws -> GlobalPosition
        /// The positions whose effect is committed, in the order they were applied.
        public var applied: @Sendable () async throws -> [GlobalPosition]

        /// Creates a crash fixture.
        public init(
            eventCount: Int,
            startRunner: @escaping @Sendable (_ pageSize: Int) async throws -> KillableRunner,
            committed: @escaping @Sendable () async throws -> GlobalPosition,
            applied: @escaping @Sendable () async throws -> [GlobalPosition]
        ) {
            self.eventCount = eventCount
            self.startRunner = startRunner
            self.committed = committed
            self.applied = applied
        }
    }

    /// A runner process the crash case can kill.
    public struct KillableRunner: Sendable {
        /// Sends `SIGKILL` and returns once the process has exited.
        public var kill: @Sendable () async throws -> Void

        /// Creates a handle from the way to kill the process.
        public init(kill: @escaping @Sendable () async throws -> Void) {
            self.kill = kill
        }
    }

    /// Kills runner processes of one projection at random moments, `kills` times, then lets a
    /// last runner reach the head; the committed effects must equal a clean replay.
    ///
    /// The moments are random but reproducible from `seed` (the failure names it): some runners
    /// are killed right after they start (while opening or creating the projection's storage),
    /// the others once their committed checkpoint has passed a random threshold, which lands the
    /// kill between pages, in the middle of a page or in the middle of a commit. Page sizes vary
    /// from 1 to 100. After every kill the committed effects are exactly the positions
    /// 1…checkpoint, each once, in log order: nothing applied twice, nothing skipped, no effect
    /// without its checkpoint.
    public static func runnersKilledAtRandomMomentsLeaveAModelEqualToACleanReplay(
        kills: Int = 20, seed: UInt64 = UInt64.random(in: 1...UInt64.max), _ fixture: CrashFixture
    ) async throws {
        let check = ConformanceCheck(caseName: "runnersKilledAtRandomMomentsLeaveAModelEqualToACleanReplay(seed: \(seed))")
        var random = SeededRandomNumberGenerator(seed: seed)
        let count = Int64(fixture.eventCount)
        try check.expect(count >= Int64(kills) * 10, "the log should hold at least ten events per kill, it holds \(count)")
        let pageSizes = [1, 3, 7, 37, 100]

        func verify(_ when: String) async throws -> GlobalPosition {
            let checkpoint = try await fixture.committed()
            let applied = try await fixture.applied()
            try check.expect(
                applied == (checkpoint.value == 0 ? [] : positions(1...checkpoint.value)),
                "\(when): the committed effects should be positions 1…\(checkpoint.value) once each in order; got \(describe(applied))"
            )
            return checkpoint
        }

        var previous = GlobalPosition(0)
        for round in 1...kills {
            let pageSize = pageSizes[Int(random.next() % UInt64(pageSizes.count))]
            let runner = try await fixture.startRunner(pageSize)
            do {
                if round % 4 == 1 {
                    // Right away: while the process opens (or creates) the projection's storage.
                } else {
                    // Once it has committed past a random threshold ahead of the last kill, so that
                    // the kills spread over the whole log.
                    let remaining = count - previous.value
                    let step = max(1, remaining / Int64(kills - round + 2))
                    let threshold = previous.value + 1 + Int64(random.next() % UInt64(step))
                    try await eventually("runner \(round) to commit past \(threshold) (seed \(seed))", timeout: .seconds(120)) {
                        try await fixture.committed().value >= min(threshold, count)
                    }
                }
            } catch {
                try? await runner.kill()
                throw error
            }
            try await runner.kill()
            let checkpoint = try await verify("after kill \(round) (page size \(pageSize))")
            try check.expect(checkpoint >= previous, "after kill \(round): the checkpoint went back from \(previous) to \(checkpoint)")
            previous = checkpoint
        }

        let last = try await fixture.startRunner(pageSizes[Int(random.next() % UInt64(pageSizes.count))])
        do {
            try await eventually("the last runner to reach the head \(count) (seed \(seed))", timeout: .seconds(120)) {
                try await fixture.committed().value == count
            }
        } catch {
            try? await last.kill()
            throw error
        }
        try await last.kill()
        try check.equal(try await verify("at the end"), GlobalPosition(count), "the final checkpoint")
    }

    private static func describe(_ applied: [GlobalPosition]) -> String {
        var seen = Set<GlobalPosition>(), twice: [GlobalPosition] = []
        for position in applied where !seen.insert(position).inserted { twice.append(position) }
        let expected = Set((1...max(1, Int64(applied.count))).map { GlobalPosition($0) })
        let missing = expected.subtracting(seen).sorted().prefix(10)
        return "\(applied.count) effects; applied twice: \(twice.prefix(10)); missing: \(Array(missing))"
    }
}
