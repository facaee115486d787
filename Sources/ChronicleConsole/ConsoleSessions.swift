import Foundation
import Synchronization

/// Console sign-ins: random session ids (the `HttpOnly`, `SameSite=Strict` cookie) with their
/// rights and their CSRF token, kept in memory, bounded and expiring.
final class ConsoleSessions: Sendable {
    struct Session: Sendable {
        var expires: ContinuousClock.Instant
        var csrf: String
        var admin: Bool
    }

    private let state = Mutex<[String: Session]>([:])
    let lifetime: Duration
    let maximum: Int

    init(lifetime: Duration, maximum: Int) {
        self.lifetime = lifetime
        self.maximum = maximum
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()  // the system's CSPRNG (getrandom on Linux)
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Starts a session; returns its id.
    func create(admin: Bool) -> (id: String, session: Session) {
        let id = Self.randomToken()
        let session = Session(expires: .now + lifetime, csrf: Self.randomToken(), admin: admin)
        state.withLock { sessions in
            let now = ContinuousClock.now
            sessions = sessions.filter { $0.value.expires > now }
            while sessions.count >= maximum, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires }) {
                sessions[oldest.key] = nil
            }
            sessions[id] = session
        }
        return (id, session)
    }

    func session(_ id: String?) -> Session? {
        guard let id, id.utf8.count == 64 else { return nil }
        return state.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            if session.expires <= .now {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    func remove(_ id: String?) {
        guard let id else { return }
        _ = state.withLock { $0.removeValue(forKey: id) }
    }

    /// Compares in time that depends only on the lengths.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
