package dev.tandem.faceid

import dev.tandem.sdk.FallbackReason
import dev.tandem.planner.NetworkKind
import dev.tandem.Report
import dev.tandem.faceid.core.Attempt
import dev.tandem.faceid.core.Match

/** What the screens show of one request: the SDK's report, flattened (no Android here). */
fun Report.toAttempt(kind: Attempt.Kind, match: Match?): Attempt = Attempt(
    kind = kind,
    match = match,
    cut = plan.cut.toInt(),
    afterNode = afterNode,
    offloaded = offloaded,
    fallback = fallbackReason?.let(::fallbackLabel),
    network = networkLabel(network),
    totalMs = totalMs,
    predictedMs = plan.predictedTotalMs,
    bytesUp = bytesUp.toLong(),
    energyMj = energyMj,
)

/** A network as people write it: "Wi-Fi", "LTE", "3G", "no network". */
fun networkLabel(kind: NetworkKind): String = when (kind) {
    is NetworkKind.Wifi -> "Wi-Fi"
    is NetworkKind.Cellular -> when (val gen = kind.generation.name.uppercase()) {
        "G2", "G3", "G5" -> gen.drop(1) + "G"
        "LTE" -> "LTE"
        else -> "cellular"
    }
    is NetworkKind.Ethernet -> "Ethernet"
    is NetworkKind.Offline -> "no network"
    is NetworkKind.Unknown -> "an unknown network"
}

/** A short reason why the edge was not used: "offline", "timeout", "server error 503". */
fun fallbackLabel(reason: FallbackReason): String = when (reason) {
    is FallbackReason.Offline -> "offline"
    is FallbackReason.MeteredForbidden -> "metered network"
    is FallbackReason.BreakerOpen -> "edge failing, backing off"
    is FallbackReason.HashMismatch -> "edge has another model"
    is FallbackReason.ModelNotServed -> "model not on the edge"
    is FallbackReason.Unauthorized -> "edge refused the token"
    is FallbackReason.EdgeUnreachable -> "edge unreachable"
    is FallbackReason.Timeout -> "edge too slow"
    is FallbackReason.LinkReset -> "link reset"
    is FallbackReason.ServerError -> "edge error ${reason.status}"
    is FallbackReason.Rejected -> "edge rejected ${reason.status}"
    is FallbackReason.MalformedResponse -> "bad answer from the edge"
}
