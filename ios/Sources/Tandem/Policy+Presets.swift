import Foundation

extension Policy {
    /// Battery-aware balance of latency and energy: the usual choice.
    ///
    /// - Parameters:
    ///   - deadlineMs: answer within this many milliseconds when possible; `nil`: no deadline.
    ///   - keepRawInputOnDevice: never send the raw input (e.g. a camera frame) to the edge: the
    ///     shorthand that raises the privacy floor `minCut` to at least 1 (set `minCut` on the
    ///     returned policy to keep more of the model on the phone).
    ///   - allowMetered: offload over expensive or constrained (Low Data Mode) networks.
    public static func balanced(
        deadlineMs: Double? = nil,
        keepRawInputOnDevice: Bool = false,
        allowMetered: Bool = true
    ) -> Policy {
        preset(.balanced, deadlineMs, keepRawInputOnDevice, allowMetered)
    }

    /// Minimum latency; see `balanced(deadlineMs:keepRawInputOnDevice:allowMetered:)`.
    public static func latency(
        deadlineMs: Double? = nil,
        keepRawInputOnDevice: Bool = false,
        allowMetered: Bool = true
    ) -> Policy {
        preset(.latency, deadlineMs, keepRawInputOnDevice, allowMetered)
    }

    /// Minimum phone energy; see `balanced(deadlineMs:keepRawInputOnDevice:allowMetered:)`.
    public static func energy(
        deadlineMs: Double? = nil,
        keepRawInputOnDevice: Bool = false,
        allowMetered: Bool = true
    ) -> Policy {
        preset(.energy, deadlineMs, keepRawInputOnDevice, allowMetered)
    }

    /// Battery-aware balance with a deadline as a `Duration`, e.g. `.milliseconds(150)`.
    @available(iOS 16.0, macOS 13.0, *)
    public static func balanced(
        deadline: Duration,
        keepRawInputOnDevice: Bool = false,
        allowMetered: Bool = true
    ) -> Policy {
        preset(.balanced, deadline.milliseconds, keepRawInputOnDevice, allowMetered)
    }

    // The defaults themselves (encodings, accuracy budget) come from the Rust core.
    private static func preset(
        _ objective: Objective,
        _ deadlineMs: Double?,
        _ keepRawInputOnDevice: Bool,
        _ allowMetered: Bool
    ) -> Policy {
        var policy = defaultPolicy(objective: objective)
        policy.deadlineMs = deadlineMs
        policy.keepRawInputOnDevice = keepRawInputOnDevice
        policy.allowMetered = allowMetered
        return policy
    }
}

extension EdgeEndpoint {
    /// An edge at `url`, with an optional bearer token and an optional extra root certificate
    /// to trust (`caPem`: PEM text, e.g. a private CA or a test edge's self-signed certificate).
    public init(url: URL, token: String? = nil, caPem: String? = nil) {
        self.init(url: url.absoluteString, token: token, caPem: caPem)
    }
}

@available(iOS 16.0, macOS 13.0, *)
extension Duration {
    /// This duration in milliseconds.
    fileprivate var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1_000 + Double(attoseconds) / 1e15
    }
}
