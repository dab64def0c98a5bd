import Foundation
import TandemKit

extension Report {
    /// What the screen shows of this request.
    func attempt(kind: Attempt.Kind, match: Match?) -> Attempt {
        Attempt(
            kind: kind,
            match: match,
            cut: Int(plan.cut),
            afterNode: afterNode,
            offloaded: offloaded,
            fallback: fallbackReason.map(fallbackLabel),
            network: networkLabel(network),
            totalMs: totalMs,
            predictedMs: plan.predictedTotalMs,
            bytesUp: bytesUp,
            energyMj: energyMj
        )
    }
}

/// A network as people write it: "Wi-Fi", "LTE", "3G", "no network".
func networkLabel(_ kind: NetworkKind) -> String {
    switch kind {
    case .wifi:
        return "Wi-Fi"
    case .cellular(let generation):
        switch generation {
        case .g2: return "2G"
        case .g3: return "3G"
        case .lte: return "LTE"
        case .g5: return "5G"
        case .unknown: return "cellular"
        }
    case .ethernet:
        return "Ethernet"
    case .offline:
        return "no network"
    case .unknown:
        return "an unknown network"
    }
}

/// A short reason why the edge was not used: "offline", "edge too slow", "edge error 503".
func fallbackLabel(_ reason: FallbackReason) -> String {
    switch reason {
    case .offline: return "offline"
    case .meteredForbidden: return "metered network"
    case .breakerOpen: return "edge failing, backing off"
    case .hashMismatch: return "edge has another model"
    case .modelNotServed: return "model not on the edge"
    case .unauthorized: return "edge refused the token"
    case .edgeUnreachable: return "edge unreachable"
    case .timeout: return "edge too slow"
    case .linkReset: return "link reset"
    case .serverError(let status): return "edge error \(status)"
    case .rejected(let status): return "edge rejected \(status)"
    case .malformedResponse: return "bad answer from the edge"
    }
}
