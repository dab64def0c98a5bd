import Foundation
#if canImport(TandemFFI)
import TandemFFI // RustBuffer, for the converter shim at the end
#endif

/// What can go wrong in a Tandem call, with Swift's lowerCamel cases. (UniFFI generates the
/// Rust error with UpperCamel cases, mozilla/uniffi-rs#2262; that generated type is renamed
/// `TandemFfiError` in `bindings/uniffi.toml` and mapped to this one by every `Tandem` method.)
/// Network faults are never errors: the request runs on the phone and the report says why.
public enum TandemError: Error, Equatable, Hashable, LocalizedError {
    /// The model file cannot be used: missing, unreadable, not ONNX, or an unsupported operator.
    case model(reason: String)
    /// The input tensors do not fit the model: name, element type, shape or byte length.
    case invalidInput(reason: String)
    /// The client configuration is unusable: edge URL, token, policy.
    case config(reason: String)
    /// A platform callback (signals, log sink) failed.
    case callback(reason: String)
    /// The client was closed; create a new one.
    case closed
    /// A bug in Tandem (it panicked); the client stays usable. Please report it.
    case internalError(reason: String)

    init(_ error: TandemFfiError) {
        switch error {
        case .Model(let reason): self = .model(reason: reason)
        case .InvalidInput(let reason): self = .invalidInput(reason: reason)
        case .Config(let reason): self = .config(reason: reason)
        case .Callback(let reason): self = .callback(reason: reason)
        case .Closed: self = .closed
        case .Internal(let reason): self = .internalError(reason: reason)
        }
    }

    public var errorDescription: String? {
        switch self {
        case .model(let reason): return "model: \(reason)"
        case .invalidInput(let reason): return "invalid input: \(reason)"
        case .config(let reason): return "configuration: \(reason)"
        case .callback(let reason): return "callback failed: \(reason)"
        case .closed: return "the client is closed"
        case .internalError(let reason): return "internal error: \(reason)"
        }
    }
}

/// Runs a generated call, its `TandemFfiError` as a `TandemError`.
func mappingErrors<T>(_ call: () throws -> T) throws -> T {
    do {
        return try call()
    } catch let error as TandemFfiError {
        throw TandemError(error)
    }
}

/// The async `mappingErrors`.
func mappingErrors<T>(_ call: () async throws -> T) async throws -> T {
    do {
        return try await call()
    } catch let error as TandemFfiError {
        throw TandemError(error)
    }
}

/// uniffi-bindgen 0.32's renamer (`[bindings.swift.rename]`) misses a constructor's error type:
/// `TandemClient.init` still calls `FfiConverterTypeTandemError_lift`. This forwards it to the
/// renamed converter, so the generated file compiles as it is written.
func FfiConverterTypeTandemError_lift(_ buf: RustBuffer) throws -> TandemFfiError {
    try FfiConverterTypeTandemFfiError_lift(buf)
}
