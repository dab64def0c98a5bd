package dev.tandem

import dev.tandem.planner.CellularGen
import dev.tandem.planner.NetworkKind
import dev.tandem.planner.PlatformState
import dev.tandem.planner.Policy
import dev.tandem.planner.Tier
import dev.tandem.sdk.EdgeStatus
import dev.tandem.sdk.FallbackReason
import dev.tandem.sdk.InferOptions
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/** A Kotlin implementation of the platform signals trait steers the Rust planner. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SignalsPlanTest {
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
    fun `going offline moves the plan onto the phone and the report says why`() = runBlocking<Unit> {
        val signals = FakeSignals(NetworkKind.Wifi)
        Tandem.create(
            TestModels.tinyResnet,
            edge = EdgeEndpoint(edge.url, token = edge.token),
            policy = Policy.latency(),
            signals = signals,
        ).use { tandem ->
            assertEquals(EdgeStatus.VERIFIED, tandem.awaitEdge(timeoutMs = 30_000))
            val mid = tandem.modelInfo.cutCount / 2u
            val lastCut = tandem.modelInfo.cutCount - 1u
            val input = listOf(TestModels.tinyResnetInput())

            val online = tandem.infer(input, InferOptions(cut = mid)).report
            assertTrue(online.offloaded, online.summary)

            signals.state = signals.state.copy(network = NetworkKind.Offline, networkId = "")
            val forced = tandem.infer(input, InferOptions(cut = mid)).report
            assertFalse(forced.offloaded, forced.summary)
            assertEquals(FallbackReason.Offline, forced.fallbackReason)
            assertTrue(forced.summary.contains("offline"), forced.summary)

            // left to the planner, an offline phone plans a local-only request
            val planned = tandem.infer(*input.toTypedArray()).report
            assertFalse(planned.plan.offloads, planned.plan.reason)
            assertEquals(lastCut, planned.plan.cut, planned.plan.reason)
            assertEquals(listOf(Tier.DEVICE), planned.plan.tiers)
            assertEquals(NetworkKind.Offline, planned.network)

            signals.state = signals.state.copy(network = NetworkKind.Cellular(CellularGen.LTE), networkId = "lte-1")
            val lte = tandem.infer(input, InferOptions(cut = mid)).report
            assertEquals(NetworkKind.Cellular(CellularGen.LTE), lte.network)
            assertTrue(lte.offloaded, lte.summary)
            assertTrue(lte.summary.contains("via LTE"), lte.summary)
        }
    }

    @Test
    fun `a throwing signals provider degrades to unknown and is logged`() = runBlocking<Unit> {
        val warnings = CopyOnWriteArrayList<LogRecord>()
        Tandem.setLogger(LogLevel.WARN) { if (it.level == LogLevel.WARN) warnings.add(it) }
        val broken = object : PlatformSignalsProvider {
            override fun currentState(): PlatformState = throw IllegalStateException("no permission")
        }
        Tandem.create(TestModels.tinyResnet, signals = broken).use { tandem ->
            val result = tandem.infer(TestModels.tinyResnetInput())
            assertEquals(NetworkKind.Unknown, result.report.network)
            assertTrue(
                warnings.any { it.message.contains("platform signals failed") && it.message.contains("no permission") },
                warnings.toString(),
            )
        }
    }
}
