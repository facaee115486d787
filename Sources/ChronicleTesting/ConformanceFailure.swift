public import Chronicle

/// A conformance case's expectation that did not hold, with where and why.
public struct ConformanceFailure: Error, CustomStringConvertible, Sendable {
    /// The case that failed.
    public var caseName: String
    /// What was expected and what happened.
    public var message: String
    /// The source file of the failed expectation.
    public var file: String
    /// The source line of the failed expectation.
    public var line: Int

    /// Creates a failure.
    public init(caseName: String, message: String, file: String = #fileID, line: Int = #line) {
        self.caseName = caseName
        self.message = message
        self.file = file
        self.line = line
    }

    /// The case, what went wrong and where.
    public var description: String { "\(caseName): \(message) (\(file):\(line))" }
}

/// The expectations conformance cases use; each throws a ``ConformanceFailure`` naming the case.
public struct ConformanceCheck: Sendable {
    /// The case being run.
    public let caseName: String

    /// Creates a checker for `caseName`.
    public init(caseName: String) {
        self.caseName = caseName
    }

    /// A failure of this case.
    public func failure(_ message: String, file: String = #fileID, line: Int = #line) -> ConformanceFailure {
        ConformanceFailure(caseName: caseName, message: message, file: file, line: line)
    }

    /// Fails unless `condition` holds.
    public func expect(_ condition: Bool, _ message: @autoclosure () -> String, file: String = #fileID, line: Int = #line) throws(ConformanceFailure) {
        if !condition { throw failure(message(), file: file, line: line) }
    }

    /// Fails unless `actual == expected`.
    public func equal<T: Equatable>(_ actual: T, _ expected: T, _ what: String, file: String = #fileID, line: Int = #line) throws(ConformanceFailure) {
        if actual != expected {
            throw failure("\(what): expected \(expected), got \(actual)", file: file, line: line)
        }
    }

    /// Runs `body`, which must throw an ``EventStoreError`` with `code`; returns that error.
    @discardableResult
    public func error<T>(
        _ code: EventStoreError.Code, _ what: String, file: String = #fileID, line: Int = #line,
        _ body: () async throws -> T
    ) async throws(ConformanceFailure) -> EventStoreError {
        do {
            let value = try await body()
            throw failure("\(what): expected error \(code), but it succeeded with \(value)", file: file, line: line)
        } catch let error as EventStoreError {
            if error.code != code {
                throw failure("\(what): expected error \(code), got \(error)", file: file, line: line)
            }
            return error
        } catch let error as ConformanceFailure {
            throw error
        } catch {
            throw failure("\(what): expected EventStoreError \(code), got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}

/// One named behaviour of a conformance suite, run on a `Subject` the backend's test provides (a
/// store, a fixture, a way to make fixtures). ``EventStoreConformance``, ``ProjectionConformance``
/// and ``SnapshotStoreConformance`` list their cases as values of this type, so any test framework
/// can run each as a test of its own (`@Test(arguments: EventStoreConformance.cases)`).
public struct ConformanceCase<Subject: Sendable>: Sendable, CustomStringConvertible, Hashable {
    /// The behaviour, as a sentence in camel case (`appendWithStaleExactVersionFailsAndWritesNothing`).
    public let name: String
    private let body: @Sendable (ConformanceCheck, Subject) async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable (ConformanceCheck, Subject) async throws -> Void) {
        self.name = name
        self.body = body
    }

    /// Runs the case on `subject`.
    public func run(_ subject: Subject) async throws {
        try await body(ConformanceCheck(caseName: name), subject)
    }

    /// The case's name.
    public var description: String { name }
    /// Cases are equal when their names are.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.name == rhs.name }
    /// Hashes the name.
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
