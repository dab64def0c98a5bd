import Foundation

/// Split inference for one model: runs the first part of the model on the phone and the rest
/// on an edge server, choosing the cut per request from the network, battery and deadline.
///
/// Create one per model when the app starts and reuse it for every request; it is safe to use
/// from any task or thread. A request never fails because of the network: if the edge cannot be
/// used, the phone computes the result and `report.fallbackReason` says why.
///
/// (The Swift module is `TandemKit`: a module named like its main class could not qualify
/// names, `Tandem.Policy` would look for a member of the class.)
///
/// ```swift
/// import TandemKit
///
/// let tandem = try Tandem(model: Bundle.main.url(forResource: "face_embedder", withExtension: "onnx")!,
///                         edge: .init(url: edgeURL, token: token),
///                         policy: .balanced(deadlineMs: 150, keepRawInputOnDevice: true))
/// let result = try await tandem.infer(faceCrop)
/// print(result.report.summary)
/// ```
public final class Tandem: Sendable {
    private let client: TandemClient
    private let platformSignals: ApplePlatformSignals?

    /// Loads `model` and starts checking `edge` in the background. Blocks while the model loads
    /// (up to a few seconds for a large model): create it off the main actor.
    ///
    /// - Parameters:
    ///   - model: the ONNX file; the edge must serve the same file (hashes are compared).
    ///   - edge: the edge server; `nil` runs everything on the phone.
    ///   - policy: what every plan must respect.
    ///   - signals: the phone's state; `nil` reads it from `NWPathMonitor`, `UIDevice` and
    ///     `ProcessInfo`. Tests pass their own.
    ///   - logLevel: Tandem's Rust log lines at this level and above go to `os.Logger`
    ///     (subsystem `dev.tandem`).
    /// - Throws: `TandemError.model` if the model cannot be used, `TandemError.config` if the
    ///   edge URL or the policy is unusable.
    public init(
        model: URL,
        edge: EdgeEndpoint? = nil,
        policy: Policy = .balanced(),
        signals: PlatformSignalsProvider? = nil,
        logLevel: LogLevel = .info
    ) throws {
        try? setLogSink(sink: OSLogSink.shared, maxLevel: logLevel)
        let platform = signals == nil ? ApplePlatformSignals() : nil
        let config = ClientConfig(
            modelPath: model.path,
            edge: edge,
            policy: policy,
            cacheDir: Tandem.cacheDirectory()?.path,
            deviceName: Tandem.deviceModel()
        )
        do {
            client = try mappingErrors { try TandemClient(config: config, signals: signals ?? platform) }
        } catch {
            platform?.stop()
            throw error
        }
        platformSignals = platform
    }

    /// `init(model:edge:policy:signals:logLevel:)` off the caller's actor: the model loads on a
    /// detached task, so the main actor is never blocked.
    public static func create(
        model: URL,
        edge: EdgeEndpoint? = nil,
        policy: Policy = .balanced(),
        signals: PlatformSignalsProvider? = nil,
        logLevel: LogLevel = .info
    ) async throws -> Tandem {
        try await Task.detached(priority: .userInitiated) {
            try Tandem(model: model, edge: edge, policy: policy, signals: signals, logLevel: logLevel)
        }.value
    }

    deinit {
        client.shutdown()
        platformSignals?.stop()
    }

    /// The model's identity (SHA-256), inputs and outputs, its privacy floor (the cut
    /// `keepRawInputOnDevice` enforces, computed from the graph) and, from its sidecar, how a
    /// camera frame becomes its input (`preprocessing`, for `FrameTensors`).
    public var modelInfo: ModelInfo { client.modelInfo() }

    /// The policy every plan respects.
    public var policy: Policy { client.policy() }

    /// What the client knows about its edge now.
    public var edgeStatus: EdgeStatus { client.edgeStatus() }

    /// Runs one request with one tensor per model input, in order. A tensor with an empty name
    /// takes the name of the model input at its position. Cancelling the task cancels the
    /// request.
    ///
    /// - Throws: `TandemError.invalidInput` if the tensors do not fit the model; never for
    ///   network faults.
    public func infer(_ inputs: Tensor...) async throws -> InferResult {
        try await mappingErrors { try await client.infer(inputs: inputs) }
    }

    /// Runs one request with per-request `options` (forced cut, encoding, deadline).
    public func infer(_ inputs: [Tensor], options: InferOptions = InferOptions()) async throws -> InferResult {
        try await mappingErrors { try await client.inferWith(inputs: inputs, options: options) }
    }

    /// Runs one request on a single-input model straight from a buffer (a camera frame or a
    /// crop), blocking the calling thread: for a capture queue, never the main thread. Not
    /// zero-copy: `data` crosses to Rust by reference and Rust copies it once into the tensor
    /// the request owns.
    ///
    /// - Parameters:
    ///   - data: the tensor's little-endian bytes.
    ///   - shape: the tensor's shape, e.g. `[1, 3, 150, 150]`.
    ///   - dtype: the element type.
    public func inferFrame(_ data: Data, shape: [Int], dtype: DType = .uint8) throws -> InferResult {
        let input = modelInfo.inputs.first?.name ?? ""
        return try mappingErrors {
            try client.inferFrame(name: input, dtype: dtype, shape: shape.map { UInt64($0) }, data: data)
        }
    }

    /// The report of every request from now on, in completion order. A slow reader skips the
    /// oldest reports; it never slows requests down. The sequence ends when the client does.
    public var reports: AsyncStream<Report> {
        let stream = client.subscribeReports()
        return AsyncStream { continuation in
            let task = Task {
                while let report = await stream.next() {
                    continuation.yield(report)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                task.cancel()
                stream.cancel()
            }
        }
    }

    /// Waits up to `timeoutMs` for the edge's model check to have an answer. Requests never
    /// need this (they start locally while the edge is checked); start-up screens and tests may.
    public func waitForEdge(timeoutMs: UInt64 = 5_000) async -> EdgeStatus {
        await client.waitForEdge(timeoutMs: timeoutMs)
    }

    /// Where measured per-cut times are kept across launches.
    private static func cacheDirectory() -> URL? {
        FileManager.default.urls(for: .cachesDirectory, in: .userDomainMask).first?
            .appendingPathComponent("tandem", isDirectory: true)
    }

    /// The hardware model (e.g. `iPhone15,2`), so measurements are per device model.
    private static func deviceModel() -> String? {
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return machine.isEmpty ? nil : machine
    }
}
