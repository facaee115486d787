import Chronicle
import Logging

/// Writes the projection engine's notices to a swift-log `Logger`.
enum ProjectionLog {
    static func observer(_ logger: Logger) -> @Sendable (ProjectionEngine.Notice) -> Void {
        { notice in
            let line = notice.logLine
            let level: Logger.Level =
                switch line.severity {
                case .info: .info
                case .warning: .warning
                case .error: .error
                }
            logger.log(level: level, "\(line.message)", metadata: line.metadata.mapValues { .string($0) })
        }
    }
}
