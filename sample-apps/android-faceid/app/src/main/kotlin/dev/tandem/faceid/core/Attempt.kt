package dev.tandem.faceid.core

import kotlin.math.roundToLong

/**
 * One enroll or unlock attempt as the screens show it: the decision and what the SDK's report
 * said it cost. Built from a `dev.tandem.Report` by `ReportMapping.kt`; plain values here so the
 * formatting is testable on any JVM.
 */
data class Attempt(
    /** What the attempt was for. */
    val kind: Kind,
    /** The verification's result (`null` for an enrollment). */
    val match: Match?,
    /** The cut the plan chose (the last cut: all on the phone). */
    val cut: Int,
    /** The model node just before the cut, if any. */
    val afterNode: String?,
    /** Whether the edge computed the rest. */
    val offloaded: Boolean,
    /** Why the edge was not used, e.g. "offline" (`null` when the plan ran as planned). */
    val fallback: String?,
    /** The network, as people write it ("Wi-Fi", "LTE", "no network"). */
    val network: String,
    /** End to end, ms. */
    val totalMs: Double,
    /** What the planner predicted, ms. */
    val predictedMs: Double,
    /** Bytes the phone sent. */
    val bytesUp: Long,
    /** The phone's modeled energy, mJ. */
    val energyMj: Double,
) {
    /** Enroll or unlock. */
    enum class Kind { ENROLL, UNLOCK }

    /** Where the work ran: "cut 5 (after maxpool) via Wi-Fi", "on the phone (offline)". */
    val planLabel: String
        get() = when {
            offloaded -> "cut $cut" + (afterNode?.let { " (after $it)" } ?: "") + " via $network"
            fallback != null -> "on the phone ($fallback)"
            else -> "on the phone"
        }

    /** The big line: "Unlocked", "Not you", "Enrolled". */
    val headline: String
        get() = when {
            kind == Kind.ENROLL -> "Enrolled"
            match?.isMatch == true -> "Unlocked"
            else -> "Not you"
        }

    /** The small line: "distance 0.31 · cut 5 (after maxpool) via Wi-Fi · 41 ms · 157 KB up · 18 mJ". */
    val detail: String
        get() = buildList {
            match?.let { add("distance %.2f".format(java.util.Locale.ROOT, it.distance)) }
            add(planLabel)
            add("${totalMs.roundToLong()} ms (predicted ${predictedMs.roundToLong()})")
            add("${kilobytes(bytesUp)} up")
            add("${energyMj.roundToLong()} mJ")
        }.joinToString(" · ")
}

/** "0 KB", "1.5 KB", "157 KB" (decimal kilobytes). */
fun kilobytes(bytes: Long): String = when {
    bytes <= 0 -> "0 KB"
    bytes < 10_000 -> "%.1f KB".format(java.util.Locale.ROOT, bytes / 1e3)
    else -> "${(bytes / 1e3).roundToLong()} KB"
}
