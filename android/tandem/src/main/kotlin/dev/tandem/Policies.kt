package dev.tandem

import dev.tandem.planner.Objective
import dev.tandem.planner.Policy

/**
 * Battery-aware balance of latency and energy: the usual choice.
 *
 * @param deadlineMs answer within this many ms when possible (`null`: no deadline).
 * @param keepRawInputOnDevice never send the raw input (e.g. a camera frame) to the edge: the
 *   shorthand that raises the privacy floor [Policy.minCut] to at least 1 (set `minCut` with
 *   `copy(minCut = ...)` to keep more of the model on the phone).
 * @param allowMetered offload over metered (paid) networks.
 */
fun Policy.Companion.balanced(
    deadlineMs: Long? = null,
    keepRawInputOnDevice: Boolean = false,
    allowMetered: Boolean = true,
): Policy = policyFor(Objective.BALANCED, deadlineMs, keepRawInputOnDevice, allowMetered)

/** Minimum latency; see [balanced] for the parameters. */
fun Policy.Companion.latency(
    deadlineMs: Long? = null,
    keepRawInputOnDevice: Boolean = false,
    allowMetered: Boolean = true,
): Policy = policyFor(Objective.LATENCY, deadlineMs, keepRawInputOnDevice, allowMetered)

/** Minimum phone energy; see [balanced] for the parameters. */
fun Policy.Companion.energy(
    deadlineMs: Long? = null,
    keepRawInputOnDevice: Boolean = false,
    allowMetered: Boolean = true,
): Policy = policyFor(Objective.ENERGY, deadlineMs, keepRawInputOnDevice, allowMetered)

// The defaults themselves (encodings, accuracy budget) come from the Rust core.
private fun policyFor(
    objective: Objective,
    deadlineMs: Long?,
    keepRawInputOnDevice: Boolean,
    allowMetered: Boolean,
): Policy = defaultPolicy(objective).copy(
    deadlineMs = deadlineMs?.toDouble(),
    keepRawInputOnDevice = keepRawInputOnDevice,
    allowMetered = allowMetered,
)
