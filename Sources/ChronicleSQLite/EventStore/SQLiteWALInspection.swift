import Chronicle
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the `-wal` and `-shm` files beside a store before SQLite opens it, to refuse the two
/// states SQLite itself cannot see (observed with SQLite 3.40):
///
/// - **Committed transactions gone from the WAL.** SQLite opens a store whose `-wal` was deleted,
///   truncated or replaced as if the missing frames had never been committed (it resets a stale
///   `-shm` and rebuilds it from whatever WAL is there), and the next append reuses their
///   positions. A `-shm` left by a process that stopped without closing the store still records
///   how many frames the WAL held (`mxFrame`) and how many were already copied into the database
///   file (`nBackfill`): frames beyond the backfill that the WAL no longer holds are lost commits.
/// - **Another database's WAL.** A WAL carries no link to its database file: its salts and
///   checksums only chain its own frames, so SQLite replays another database's WAL into the store
///   (silently changing it, or damaging it), and the first read-write connection's checkpoint
///   writes those pages into the file for good. A WAL whose page size differs from the file's, or
///   whose last commit describes a database smaller than the file (a Chronicle store never
///   shrinks: no row of the log is deleted and the file is never vacuumed), is not this file's.
///   ``SQLiteStoreOpening`` also checks the log's invariants on the read-only connection that
///   first reads the WAL, before any connection could checkpoint it.
///
/// The `-shm` is only read while no other process has the store open (no lock on its "DMS"
/// byte), no ``SQLiteEventStore`` of this process has it open (closing any descriptor of a file
/// drops every POSIX lock the process holds on it, SQLite's included: see ``register(_:)``), and
/// only if its header reads the same before and after the WAL: a live store's files are
/// SQLite's business. Nothing here writes.
enum SQLiteWALInspection {
    /// Store files this process has open (or is opening) through ``SQLiteEventStore``, by path,
    /// with how many stores hold each.
    private static let openHere = Mutex<[String: Int]>([:])

    /// Records that a store of this process opens `path`; returns whether another one already has
    /// it open, in which case its `-wal` and `-shm` are live and must not be opened here.
    static func register(_ path: String) -> Bool {
        let key = canonical(path)
        return openHere.withLock { open in
            defer { open[key, default: 0] += 1 }
            return open[key, default: 0] > 0
        }
    }

    /// Undoes one ``register(_:)`` once the store's connections are closed (or its opening failed).
    static func unregister(_ path: String) {
        let key = canonical(path)
        openHere.withLock { open in
            let count = open[key, default: 0] - 1
            open[key] = count > 0 ? count : nil
        }
    }

    private static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// What SQLite's recovery would take from a WAL file.
    struct WALContents: Equatable {
        /// The page size the WAL header records.
        var pageSize: Int
        /// The header's two salts, as stored (every valid frame repeats them).
        var salts: Data
        /// Frames up to and including the last valid commit frame: what SQLite replays.
        var committedFrames: Int
        /// The database size, in pages, recorded by the last valid commit frame (0 if none).
        var lastCommitPages: Int
    }

    /// The WAL index header (`WalIndexHdr`) and the checkpoint's progress, from a `-shm` file.
    struct IndexHeader: Equatable {
        /// The last valid frame of the WAL when the index was last written.
        var maxFrame: UInt32
        /// Frames already copied into the database file.
        var backfilled: UInt32
        /// The WAL salts the index was built for.
        var salts: Data
    }

    /// Refuses a store whose WAL lost committed frames or belongs to another database, and
    /// returns what the WAL holds (nil when there is no WAL or another process has the store open).
    ///
    /// - Parameter header: the first 100 bytes of the database file (empty for an empty file).
    static func check(path: String, header: Data) throws(EventStoreError) -> WALContents? {
        let walPath = path + "-wal", indexPath = path + "-shm"
        let index = readIndexHeader(indexPath)
        if let index, index.isLive { return nil }
        let wal: WALContents?
        do {
            wal = try readWAL(walPath)
        } catch {
            throw EventStoreError(.storageFailure, "\(walPath) cannot be read. Nothing was written; give this user read and write access to it.", underlying: error)
        }
        if let index = index?.header, readIndexHeader(indexPath)?.header == index, index.maxFrame > index.backfilled {
            let unbackfilled = index.maxFrame - index.backfilled
            let accept = "Nothing was written. Copy the three files aside first: any SQLite connection to \(path), even a read-only one (the sqlite3 shell, `chronicle verify`), rebuilds \(indexPath) and forgets this, and the store would then open without a word. Put the whole \(walPath) back if you have it (from where it was moved, or a backup of the three files taken together); otherwise, to open the store as of its last checkpoint and accept the loss, delete \(indexPath) (SQLite rebuilds it) and open the store again. The positions of the lost events will then be given to new events: rebuild projections and tell consumers that remember a position past the new head."
            guard let wal else {
                throw EventStoreError(.corruptRecord, "\(walPath) is missing, but \(indexPath) (its index, left by a process that stopped without closing the store) says it held \(unbackfilled) frame(s) of committed transactions not yet copied into \(path): those acknowledged appends are lost. \(accept)")
            }
            if wal.committedFrames > 0 && wal.salts != index.salts {
                throw EventStoreError(.corruptRecord, "\(walPath) is not the WAL that \(indexPath) (its index, left by a process that stopped without closing the store) describes: it was replaced, and the \(unbackfilled) frame(s) of committed transactions the index counts beyond \(path)'s last checkpoint are lost. \(accept)")
            }
            if wal.committedFrames < index.maxFrame {
                throw EventStoreError(.corruptRecord, "\(walPath) is shorter than \(indexPath) (its index, left by a process that stopped without closing the store) says: the index counts \(index.maxFrame) frame(s) of committed transactions, the file holds \(wal.committedFrames) valid one(s) (it was truncated or overwritten). The transactions after frame \(wal.committedFrames) are lost acknowledged appends. \(accept) The store then opens with the transactions the remaining frames hold.")
            }
        }
        guard let wal, wal.committedFrames > 0, header.count >= 100 else { return wal }
        let pageSize = databasePageSize(header)
        if wal.pageSize != pageSize {
            throw foreignWAL(path: path, why: "its pages are \(wal.pageSize) bytes, the store's \(pageSize)")
        }
        let filePages = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0) / pageSize
        if wal.lastCommitPages < filePages {
            throw foreignWAL(path: path, why: "its last transaction describes a database of \(wal.lastCommitPages) page(s), and \(path) already has \(filePages); a Chronicle store never shrinks")
        }
        return wal
    }

    /// The error for a WAL that does not belong to the store's file.
    static func foreignWAL(path: String, why: String) -> EventStoreError {
        EventStoreError(.corruptRecord, "\(path)-wal does not belong to \(path) (\(why)): it was copied or restored from another database, or \(path) was replaced under it. SQLite would replay its pages into \(path) and damage or silently change the store. Nothing was written. Move \(path)-wal and \(path)-shm aside and open the store again (it opens as of its last checkpoint); keep them: if they are this store's own (for example \(path) was restored from a backup beside a newer WAL), restore the three files that were taken together instead.")
    }

    // MARK: The WAL file (https://sqlite.org/fileformat.html#the_write_ahead_log)

    private static let walMagic: UInt32 = 0x377F_0682
    private static let walVersion: UInt32 = 3_007_000

    /// Validates the WAL as SQLite's recovery does: the header's checksum, then each frame's salts
    /// and cumulative checksum, up to the last valid commit frame. Nil when there is no WAL file.
    static func readWAL(_ walPath: String) throws -> WALContents? {
        guard let handle = FileHandle(forReadingAtPath: walPath) else { return nil }
        defer { try? handle.close() }
        var contents = WALContents(pageSize: 0, salts: Data(), committedFrames: 0, lastCommitPages: 0)
        let header = [UInt8](try handle.read(upToCount: 32) ?? Data())
        guard header.count == 32 else { return contents }
        let magic = bigEndian(header, 0)
        let pageSize = Int(bigEndian(header, 8))
        guard magic & ~1 == walMagic, bigEndian(header, 4) == walVersion,
            pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0
        else { return contents }
        let bigEndianWords = magic & 1 == 1
        var sum = checksum(header[0..<24], bigEndianWords: bigEndianWords, (0, 0))
        guard sum == (bigEndian(header, 24), bigEndian(header, 28)) else { return contents }
        contents.pageSize = pageSize
        contents.salts = Data(header[16..<24])
        let frameSize = 24 + pageSize
        var frame = 0
        while true {
            let chunk = [UInt8](try handle.read(upToCount: frameSize * 64) ?? Data())
            var offset = 0
            while offset + frameSize <= chunk.count {
                let pageNumber = bigEndian(chunk, offset)
                let commitPages = bigEndian(chunk, offset + 4)
                guard pageNumber != 0, chunk[(offset + 8)..<(offset + 16)].elementsEqual(header[16..<24]) else { return contents }
                sum = checksum(chunk[offset..<(offset + 8)], bigEndianWords: bigEndianWords, sum)
                sum = checksum(chunk[(offset + 24)..<(offset + frameSize)], bigEndianWords: bigEndianWords, sum)
                guard sum == (bigEndian(chunk, offset + 16), bigEndian(chunk, offset + 20)) else { return contents }
                frame += 1
                if commitPages != 0 {
                    contents.committedFrames = frame
                    contents.lastCommitPages = Int(commitPages)
                }
                offset += frameSize
            }
            if chunk.count < frameSize * 64 { return contents }
        }
    }

    /// SQLite's WAL checksum: over pairs of 32-bit words, in the byte order the magic says.
    private static func checksum(_ bytes: ArraySlice<UInt8>, bigEndianWords: Bool, _ start: (UInt32, UInt32)) -> (UInt32, UInt32) {
        var (s1, s2) = start
        bytes.withUnsafeBytes { raw in
            var index = 0
            while index + 8 <= raw.count {
                var a = raw.loadUnaligned(fromByteOffset: index, as: UInt32.self)
                var b = raw.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self)
                if bigEndianWords {
                    a = UInt32(bigEndian: a)
                    b = UInt32(bigEndian: b)
                } else {
                    a = UInt32(littleEndian: a)
                    b = UInt32(littleEndian: b)
                }
                s1 = s1 &+ a &+ s2
                s2 = s2 &+ b &+ s1
                index += 8
            }
        }
        return (s1, s2)
    }

    private static func bigEndian(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes[offset..<(offset + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    /// The page size the database header records (bytes 16–17, big-endian; 1 means 65536).
    static func databasePageSize(_ header: Data) -> Int {
        let bytes = [UInt8](header.prefix(18))
        guard bytes.count == 18 else { return 0 }
        let value = Int(bytes[16]) << 8 | Int(bytes[17])
        return value == 1 ? 65536 : value
    }

    // MARK: The WAL index (https://sqlite.org/walformat.html#the_wal_index_file_format)

    /// The `-shm`'s header, nil when there is none or it is not a valid, initialized index; with
    /// whether another process holds SQLite's "DMS" lock on it (has the store open).
    static func readIndexHeader(_ indexPath: String) -> (header: IndexHeader, isLive: Bool)? {
        let descriptor = open(indexPath, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 136)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 136, 0) }
        guard count == 136 else { return nil }
        // The header is in native byte order, written twice: a writer writes the second copy, then
        // the first, so a process killed in between leaves the first copy one commit behind (or
        // a WAL restart behind). A copy is valid when it is initialized and its checksum (over its
        // first 40 bytes) matches; the second copy when valid, else the first, tells how many
        // frames the WAL held (SQLite itself would rebuild the index from the WAL, which is
        // exactly what a deleted WAL makes impossible).
        let nativeBigEndian = UInt32(1).bigEndian == 1
        let valid = [0, 48].filter { base in
            native(bytes, base) == walVersion && bytes[base + 12] == 1
                && checksum(bytes[base..<(base + 40)], bigEndianWords: nativeBigEndian, (0, 0)) == (native(bytes, base + 40), native(bytes, base + 44))
        }
        guard let base = valid.last else { return nil }
        let header = IndexHeader(maxFrame: native(bytes, base + 16), backfilled: native(bytes, 96), salts: Data(bytes[(base + 32)..<(base + 40)]))
        return (header, isLocked(descriptor, offset: 128))
    }

    private static func native(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    /// Whether another process holds a lock on the byte at `offset` (SQLite's unix VFS keeps a
    /// shared lock on byte 128 of the `-shm`, the "DMS" byte, while it has the store open).
    private static func isLocked(_ descriptor: Int32, offset: Int) -> Bool {
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = off_t(offset)
        lock.l_len = 1
        guard fcntl(descriptor, F_GETLK, &lock) == 0 else { return true }  // unknown: leave it to SQLite
        return lock.l_type != Int16(F_UNLCK)
    }
}
