package dev.tandem

import dev.tandem.model.Encoding
import dev.tandem.planner.NetworkKind
import dev.tandem.planner.Policy
import dev.tandem.planner.Tier
import dev.tandem.sdk.EdgeStatus
import dev.tandem.sdk.FallbackReason
import dev.tandem.sdk.InferOptions
import kotlin.math.abs
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/** Offloading through the generated bindings to the real `tandem edge` on loopback. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EdgeOffloadTest {
    private lateinit var edge: EdgeProcess

    @BeforeAll
    fun startEdge() {
        edge = EdgeProcess.start(TestModels.tinyResnet)
    }

    @AfterAll
    fun stopEdge() {
        edge.close()
    }

    @Test
    fun `a request split at a middle cut is finished by the edge`() = runBlocking<Unit> {
        val expected = Tandem.create(TestModels.tinyResnet).use { local ->
            local.infer(TestModels.tinyResnetInput()).outputs.single().toFloatArray()
        }
        val signals = FakeSignals(NetworkKind.Wifi)
        Tandem.create(
            TestModels.tinyResnet,
            edge = EdgeEndpoint(edge.url, token = edge.token),
            policy = Policy.latency(),
            signals = signals,
        ).use { tandem ->
            assertEquals(EdgeStatus.VERIFIED, tandem.awaitEdge(timeoutMs = 30_000))
            val mid = tandem.modelInfo.cutCount / 2u
            // fp32 on the wire: the edge runs the same engine on the same bits, so the outputs
            // may differ only by float rounding of differently fused parts
            val result = tandem.infer(
                listOf(TestModels.tinyResnetInput()),
                InferOptions(cut = mid, encoding = Encoding.FP32),
            )
            val report = result.report
            assertTrue(report.offloaded, report.summary)
            assertNull(report.fallbackReason, report.summary)
            assertEquals(listOf(Tier.DEVICE, Tier.EDGE), report.plan.tiers)
            assertEquals(mid, report.plan.cut)
            assertEquals(NetworkKind.Wifi, report.network)
            assertTrue(report.bytesUp > 0uL && report.bytesDown > 0uL, report.toString())
            assertTrue(report.summary.contains("via Wi-Fi"), report.summary)
            assertTrue(signals.calls.get() > 0, "Rust asked the Kotlin signals")

            val got = result.outputs.single().toFloatArray()
            val diff = got.indices.maxOf { abs(got[it] - expected[it]) }
            assertTrue(diff <= 1e-5f, "edge and phone disagree by $diff")
        }
    }

    @Test
    fun `a wrong token is a recorded fallback, never an exception`() = runBlocking<Unit> {
        Tandem.create(
            TestModels.tinyResnet,
            edge = EdgeEndpoint(edge.url, token = "wrong"),
            signals = FakeSignals(NetworkKind.Wifi),
        ).use { tandem ->
            tandem.awaitEdge(timeoutMs = 30_000)
            val mid = tandem.modelInfo.cutCount / 2u
            val report = tandem.infer(listOf(TestModels.tinyResnetInput()), InferOptions(cut = mid)).report
            assertTrue(!report.offloaded, report.summary)
            assertEquals(FallbackReason.Unauthorized, report.fallbackReason, report.summary)
        }
    }
}
