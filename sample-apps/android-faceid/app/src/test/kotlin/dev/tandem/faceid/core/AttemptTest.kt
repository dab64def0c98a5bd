package dev.tandem.faceid.core

import org.junit.Assert.assertEquals
import org.junit.Test

class AttemptTest {
    private fun attempt(match: Match?, offloaded: Boolean, fallback: String?) = Attempt(
        kind = if (match == null) Attempt.Kind.ENROLL else Attempt.Kind.UNLOCK,
        match = match,
        cut = if (offloaded) 5 else 87,
        afterNode = if (offloaded) "maxpool" else "fc",
        offloaded = offloaded,
        fallback = fallback,
        network = "Wi-Fi",
        totalMs = 41.4,
        predictedMs = 39.6,
        bytesUp = if (offloaded) 156_960 else 0,
        energyMj = 18.2,
    )

    @Test
    fun offloadedUnlock() {
        val a = attempt(Match(0.312, true, 0.6), offloaded = true, fallback = null)
        assertEquals("Unlocked", a.headline)
        assertEquals("distance 0.31 · cut 5 (after maxpool) via Wi-Fi · 41 ms (predicted 40) · 157 KB up · 18 mJ", a.detail)
    }

    @Test
    fun offlineRejectAndEnroll() {
        val a = attempt(Match(0.81, false, 0.6), offloaded = false, fallback = "offline")
        assertEquals("Not you", a.headline)
        assertEquals("on the phone (offline)", a.planLabel)
        assertEquals("Enrolled", attempt(null, offloaded = false, fallback = null).headline)
        assertEquals("on the phone", attempt(null, offloaded = false, fallback = null).planLabel)
        assertEquals("1.5 KB", kilobytes(1_500))
        assertEquals("0 KB", kilobytes(0))
    }
}
