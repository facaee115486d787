import Chronicle
import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One read-model file: the projector's tables, the checkpoints and the dead letters, behind a
/// pool of connections (one writer, several readers).
final class ReadModelGeneration: Sendable {
    /// The generation number in the file name (`NAME.gN.sqlite`).
    let number: Int
    let path: String
    let pool: DatabasePool
    private struct Mutable {
        var retired = false
        var frozen = false
        var positions: [GlobalPosition]
        var parkedCount: Int
    }
    // Mirrors of committed values, updated right after each commit; the file is the truth.
    private let mutable: Mutex<Mutable>

    init(number: Int, path: String, pool: DatabasePool, positions: [GlobalPosition], parkedCount: Int) {
        self.number = number
        self.path = path
        self.pool = pool
        self.mutable = Mutex(Mutable(positions: positions, parkedCount: parkedCount))
    }

    var positions: [GlobalPosition] { mutable.withLock { $0.positions } }
    var minimumPosition: GlobalPosition { mutable.withLock { $0.positions.min() ?? .start } }
    func position(of partition: Int) -> GlobalPosition { mutable.withLock { $0.positions[partition] } }
    func setPosition(_ position: GlobalPosition, of partition: Int) {
        mutable.withLock { $0.positions[partition] = max($0.positions[partition], position) }
    }
    var parkedCount: Int { mutable.withLock { $0.parkedCount } }
    func setParkedCount(_ count: Int) { mutable.withLock { $0.parkedCount = count } }

    /// Marks the generation replaced. Called inside its writer, so later writes see it.
    func retire() { mutable.withLock { $0.retired = true } }
    var isRetired: Bool { mutable.withLock { $0.retired } }

    /// Holds the runner's writes while a rebuild finishes catching up with this generation
    /// (so the rebuild is not chasing a moving target). Called inside its writer.
    func setFrozen(_ frozen: Bool) { mutable.withLock { $0.frozen = frozen } }

    /// Throws when the generation was replaced or is frozen: call first inside every write
    /// transaction of the runner.
    func ensureCurrent() throws {
        if mutable.withLock({ $0.retired || $0.frozen }) { throw RetiredGeneration() }
    }
}

/// Thrown inside a write on a generation that a rebuild replaced; the writer moves to the new one.
struct RetiredGeneration: Error {}

/// The files of one projection in a directory, and which of them serves queries.
///
/// Layout: `NAME.sqlite` is a symbolic link to the current generation `NAME.gN.sqlite`. A rebuild
/// creates `NAME.g(N+1).sqlite`, fills it, and swaps the link with an atomic `rename(2)`; the old
/// file is closed and deleted once no reader uses it. On open, files of generations other than
/// the current one (left by an interrupted rebuild) are deleted.
final class SQLiteReadModelStorage: Sendable {
    let directory: String
    let name: String
    let partitions: Int
    let projector: any SQLiteProjector
    let readerCount: Int

    private struct State {
        var current: ReadModelGeneration
        var users: [Int: Int] = [:]
        var retired: [ReadModelGeneration] = []
        var highestNumber: Int
    }
    private let state: Mutex<State>
    /// Counts swaps and thaws, so runners held by a frozen generation wake when it changes.
    let changes = ProjectionPositionSignal()

    init(directory: String, projector: any SQLiteProjector, partitions: Int, readerCount: Int) throws {
        let name = projector.name
        try Self.validate(name: name)
        self.directory = directory
        self.name = name
        self.partitions = partitions
        self.projector = projector
        self.readerCount = readerCount
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot create the read-model directory \(directory).", projection: name, underlying: error)
        }
        let linkPath = (directory as NSString).appendingPathComponent("\(name).sqlite")
        let current: ReadModelGeneration
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: linkPath) {
            guard let number = Self.generationNumber(fileName: (target as NSString).lastPathComponent, name: name) else {
                throw ProjectionError(.incompatibleReadModel, "\(linkPath) links to \(target), which is not a generation file of \(name).", projection: name)
            }
            current = try Self.open(directory: directory, number: number, projector: projector, partitions: partitions, readerCount: readerCount, fresh: false)
        } else if FileManager.default.fileExists(atPath: linkPath) {
            throw ProjectionError(.incompatibleReadModel, "\(linkPath) exists but is not a link to a read-model generation. Move it away.", projection: name)
        } else {
            current = try Self.open(directory: directory, number: 1, projector: projector, partitions: partitions, readerCount: readerCount, fresh: true)
            try Self.link(directory: directory, name: name, to: current)
        }
        state = Mutex(State(current: current, highestNumber: current.number))
        removeStrayFiles(keeping: current.number)
    }

    var current: ReadModelGeneration { state.withLock { $0.current } }

    /// Runs `body` on the current generation, keeping it open (not deleted by a swap) meanwhile.
    func withCurrent<T>(isolation: isolated (any Actor)? = #isolation, _ body: (ReadModelGeneration) async throws -> T) async throws -> T {
        let generation = state.withLock { state in
            state.users[state.current.number, default: 0] += 1
            return state.current
        }
        defer { release(generation) }
        return try await body(generation)
    }

    private func release(_ generation: ReadModelGeneration) {
        let closable: [ReadModelGeneration] = state.withLock { state in
            state.users[generation.number, default: 1] -= 1
            if state.users[generation.number] == 0 { state.users.removeValue(forKey: generation.number) }
            return takeClosable(&state)
        }
        close(closable)
    }

    private func takeClosable(_ state: inout State) -> [ReadModelGeneration] {
        var closable: [ReadModelGeneration] = []
        state.retired.removeAll { generation in
            guard state.users[generation.number] == nil else { return false }
            closable.append(generation)
            return true
        }
        return closable
    }

    private func close(_ generations: [ReadModelGeneration]) {
        for generation in generations {
            try? generation.pool.close()
            Self.removeFiles(of: generation.path)
        }
    }

    /// Creates a fresh, empty generation (schema migrated, checkpoints at 0) for a rebuild.
    func makeGeneration() throws -> ReadModelGeneration {
        let number = state.withLock { state in
            state.highestNumber += 1
            return state.highestNumber
        }
        return try Self.open(directory: directory, number: number, projector: projector, partitions: partitions, readerCount: readerCount, fresh: true)
    }

    /// Discards a generation that never became current (a failed rebuild), and lets the
    /// runner write the current one again.
    func discard(_ generation: ReadModelGeneration) async {
        close([generation])
        let current = self.current
        _ = try? await current.pool.writeWithoutTransaction { _ in current.setFrozen(false) }
        current.setFrozen(false)
        changes.advance(to: changes.value.next)
    }

    /// Freezes the current generation (see ``ReadModelGeneration/setFrozen(_:)``) and returns
    /// its checkpoints, which can no longer move.
    func freezeCurrent() async throws -> [GlobalPosition] {
        let current = self.current
        return try await current.pool.writeWithoutTransaction { db in
            current.setFrozen(true)
            return try SQLiteReadModelSchema.checkpoints(db, partitions: self.partitions)
        }
    }

    /// Makes `new` the current generation if none of its checkpoints is behind the current
    /// one's. Runs inside the current generation's writer, so no write to it can land between
    /// the check and the swap. Returns whether it swapped.
    func swap(to new: ReadModelGeneration) async throws -> Bool {
        let old = current
        let newPositions = new.positions
        let swapped: Bool = try await old.pool.writeWithoutTransaction { db in
            let oldPositions = try SQLiteReadModelSchema.checkpoints(db, partitions: self.partitions)
            guard zip(newPositions, oldPositions).allSatisfy({ $0 >= $1 }) else { return false }
            try Self.link(directory: self.directory, name: self.name, to: new)
            old.retire()
            self.state.withLock { state in
                state.current = new
                state.retired.append(old)
            }
            return true
        }
        if swapped {
            changes.advance(to: changes.value.next)
            close(state.withLock { takeClosable(&$0) })
        }
        return swapped
    }

    // MARK: Files

    static func validate(name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        guard (1...100).contains(name.count), !name.hasPrefix("."), name.allSatisfy({ allowed.contains($0) }) else {
            throw ProjectionError(.invalidName, "Projection name \(name.debugDescription) is not usable: it names files, so use 1 to 100 of A-Z a-z 0-9 _ - . and do not start with a dot.", projection: name)
        }
    }

    static func fileName(name: String, number: Int) -> String { "\(name).g\(number).sqlite" }

    /// The generation number of `NAME.gN.sqlite` (or of its `-wal`/`-shm`/`-journal` companions).
    static func generationNumber(fileName: String, name: String) -> Int? {
        let prefix = "\(name).g"
        guard fileName.hasPrefix(prefix) else { return nil }
        var rest = Substring(fileName.dropFirst(prefix.count))
        for suffix in ["-wal", "-shm", "-journal"] where rest.hasSuffix(suffix) {
            rest = rest.dropLast(suffix.count)
        }
        guard rest.hasSuffix(".sqlite") else { return nil }
        let digits = rest.dropLast(".sqlite".count)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    static func open(directory: String, number: Int, projector: any SQLiteProjector, partitions: Int, readerCount: Int, fresh: Bool) throws -> ReadModelGeneration {
        let name = projector.name
        let path = (directory as NSString).appendingPathComponent(fileName(name: name, number: number))
        if fresh { removeFiles(of: path) }
        var configuration = Configuration()
        configuration.label = "chronicle.readmodel.\(name).g\(number)"
        configuration.maximumReaderCount = max(1, readerCount)
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            let (positions, parked) = try pool.write { db in
                try SQLiteReadModelSchema.prepare(db, projection: name, partitions: partitions)
                return (try SQLiteReadModelSchema.checkpoints(db, partitions: partitions), try DeadLetterTable.count(db))
            }
            var migrator = DatabaseMigrator()
            projector.registerMigrations(in: &migrator)
            try migrator.migrate(pool)
            return ReadModelGeneration(number: number, path: path, pool: pool, positions: positions, parkedCount: parked)
        } catch let error as ProjectionError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw ProjectionError(.incompatibleReadModel, "\(path) is not a SQLite database.", projection: name, underlying: error)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot open the read-model file \(path).", projection: name, underlying: error)
        }
    }

    /// Points `NAME.sqlite` at `generation`, atomically (a new link renamed over the old one).
    static func link(directory: String, name: String, to generation: ReadModelGeneration) throws {
        let linkPath = (directory as NSString).appendingPathComponent("\(name).sqlite")
        let temporary = (directory as NSString).appendingPathComponent(".\(name).sqlite.link-\(generation.number)")
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: (generation.path as NSString).lastPathComponent)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot create the link \(temporary).", projection: name, underlying: error)
        }
        guard rename(temporary, linkPath) == 0 else {
            let code = errno
            throw ProjectionError(.storageFailure, "Cannot swap the read-model link \(linkPath): \(String(cString: strerror(code))).", projection: name)
        }
        // Make the rename durable: sync the directory.
        #if canImport(Glibc)
        let fd = Glibc.open(directory, O_RDONLY)
        if fd >= 0 {
            _ = fsync(fd)
            _ = Glibc.close(fd)
        }
        #endif
    }

    static func removeFiles(of path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }

    private func removeStrayFiles(keeping number: Int) {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for file in files {
            if let n = Self.generationNumber(fileName: file, name: name), n != number {
                try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(file))
            }
            if file.hasPrefix(".\(name).sqlite.link-") {
                try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(file))
            }
        }
    }
}
