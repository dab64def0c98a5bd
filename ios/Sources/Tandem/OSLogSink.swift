import Foundation
import os

/// Sends Tandem's Rust log lines to the unified log (subsystem `dev.tandem`, category `core`).
/// Tandem's log lines never contain tensor data or images, so they are logged as public.
final class OSLogSink: LogSink {
    static let shared = OSLogSink()

    private let logger = Logger(subsystem: "dev.tandem", category: "core")

    func log(record: LogRecord) {
        let type: OSLogType
        switch record.level {
        case .error: type = .error
        case .warn: type = .default
        case .info: type = .info
        case .debug, .trace: type = .debug
        }
        logger.log(level: type, "\(record.target, privacy: .public): \(record.message, privacy: .public)")
    }
}
