import Foundation

/// One enroll or unlock attempt as the screen shows it: the decision and what the SDK's report
/// said it cost (built from a `Report` by `ReportMapping.swift`; plain values here).
public struct Attempt: Identifiable, Equatable, Sendable {
    /// Enroll or unlock.
    public enum Kind: Sendable {
        case enroll
        case unlock
    }

    public let id = UUID()
    public let kind: Kind
    /// The verification's result (`nil` for an enrollment).
    public let match: Match?
    /// The cut the plan chose (the last cut: all on the phone).
    public let cut: Int
    /// The model node just before the cut, if any.
    public let afterNode: String?
    /// Whether the edge computed the rest.
    public let offloaded: Bool
    /// Why the edge was not used, e.g. "offline".
    public let fallback: String?
    /// The network as people write it ("Wi-Fi", "LTE", "no network").
    public let network: String
    /// End to end, ms.
    public let totalMs: Double
    /// What the planner predicted, ms.
    public let predictedMs: Double
    /// Bytes the phone sent.
    public let bytesUp: UInt64
    /// The phone's modeled energy, mJ.
    public let energyMj: Double

    /// Where the work ran: "cut 5 (after maxpool) via Wi-Fi", "on the phone (offline)".
    public var planLabel: String {
        if offloaded {
            let node = afterNode.map { " (after \($0))" } ?? ""
            return "cut \(cut)\(node) via \(network)"
        }
        if let fallback {
            return "on the phone (\(fallback))"
        }
        return "on the phone"
    }

    /// The big line: "Unlocked", "Not you", "Enrolled".
    public var headline: String {
        switch kind {
        case .enroll:
            return "Enrolled"
        case .unlock:
            return match?.isMatch == true ? "Unlocked" : "Not you"
        }
    }

    /// The small line: "distance 0.31 · cut 5 (after maxpool) via Wi-Fi · 41 ms (predicted 40) · 157 KB up · 18 mJ".
    public var detail: String {
        var parts: [String] = []
        if let match {
            parts.append(String(format: "distance %.2f", match.distance))
        }
        parts.append(planLabel)
        parts.append("\(Int(totalMs.rounded())) ms (predicted \(Int(predictedMs.rounded())))")
        parts.append("\(kilobytes(bytesUp)) up")
        parts.append("\(Int(energyMj.rounded())) mJ")
        return parts.joined(separator: " · ")
    }
}

/// "0 KB", "1.5 KB", "157 KB" (decimal kilobytes).
public func kilobytes(_ bytes: UInt64) -> String {
    if bytes == 0 { return "0 KB" }
    if bytes < 10_000 { return String(format: "%.1f KB", Double(bytes) / 1e3) }
    return "\(Int((Double(bytes) / 1e3).rounded())) KB"
}
