package dev.tandem

import dev.tandem.model.DType
import dev.tandem.model.Encoding
import dev.tandem.planner.Objective
import dev.tandem.planner.Policy
import dev.tandem.planner.Tier
import dev.tandem.sdk.EdgeStatus
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The generated bindings and the Kotlin API against the host-built library, without an edge. */
class LocalInferenceTest {
    @Test
    fun `runs tiny_resnet on the phone side and reports it`() = runBlocking<Unit> {
        Tandem.create(TestModels.tinyResnet, edge = null, policy = Policy.latency()).use { tandem ->
            val info = tandem.modelInfo
            assertEquals(64, info.hash.length)
            assertEquals("input", info.inputs.single().name)
            assertEquals(listOf(1uL, 3uL, 32uL, 32uL), info.inputs.single().shape)
            assertEquals(EdgeStatus.NO_EDGE, tandem.edgeStatus)

            val result = tandem.infer(TestModels.tinyResnetInput())
            val logits = result.outputs["logits"] ?: error("no logits in ${result.outputs.map { it.name }}")
            assertArrayEquals(intArrayOf(1, 10), logits.dims)
            assertTrue(logits.toFloatArray().all { it.isFinite() })
            assertFalse(result.report.offloaded)
            assertEquals(listOf(Tier.DEVICE), result.report.plan.tiers)
            assertTrue(result.report.totalMs > 0.0)
            assertTrue(result.report.summary.isNotBlank())
            assertNull(result.report.fallbackReason, "no edge configured is not a fallback")
        }
    }

    /**
     * `create` loads the model on the IO dispatcher: the caller's (single) thread keeps running
     * other coroutines meanwhile. face_embedder (22 MB) takes long enough to load that a
     * blocking create would leave the ticker at 0.
     */
    @Test
    fun `create does not block the calling thread while the model loads`() = runBlocking<Unit> {
        val caller = Thread.currentThread()
        val started = CompletableDeferred<Unit>()
        val loading = async {
            started.complete(Unit)
            Tandem.create(TestModels.faceEmbedder)
        }
        started.await()
        var ticks = 0
        while (!loading.isCompleted) {
            assertEquals(caller, Thread.currentThread())
            ticks++
            delay(1)
        }
        loading.await().use { tandem ->
            assertTrue(ticks > 0, "the caller's thread ran nothing while the model loaded")
            val info = tandem.modelInfo
            assertTrue(info.privacyFloor > 2uL, "face_embedder's normalisation is below the floor")
            assertEquals(150u, info.preprocessing?.width, "face_embedder's sidecar")
        }
    }

    @Test
    fun `the reports flow sees every request and ends when the client closes`() = runBlocking<Unit> {
        val tandem = Tandem.create(TestModels.tinyResnet)
        val collected = async { tandem.reports.take(2).toList() }
        // runBlocking is single-threaded: the collector runs up to its first suspension, and it
        // has subscribed by then
        yield()
        val first = tandem.infer(TestModels.tinyResnetInput())
        val second = tandem.infer(TestModels.tinyResnetInput())
        val reports = withTimeout(30_000) { collected.await() }
        assertEquals(listOf(first.report.requestId, second.report.requestId), reports.map { it.requestId })

        val pending = async { tandem.reports.toList() }
        yield()
        tandem.close()
        assertTrue(withTimeout(30_000) { pending.await() }.isEmpty(), "closing completes the flow")
    }

    @Test
    fun `a camera frame from a direct buffer gives the same answer`() = runBlocking<Unit> {
        Tandem.create(TestModels.tinyResnet).use { tandem ->
            val input = TestModels.tinyResnetInput()
            val expected = tandem.infer(input).outputs.single().toFloatArray()

            // a direct buffer with a header before the pixels: only position..limit is read
            val direct = ByteBuffer.allocateDirect(16 + input.data.size).order(ByteOrder.LITTLE_ENDIAN)
            direct.put(ByteArray(16) { 0x7f }).put(input.data).flip().position(16)
            val fromDirect = tandem.inferFrame(direct, intArrayOf(1, 3, 32, 32), DType.FP32)
            assertArrayEquals(expected, fromDirect.outputs.single().toFloatArray())

            val heap = ByteBuffer.wrap(input.data)
            val fromHeap = tandem.inferFrame(heap, intArrayOf(1, 3, 32, 32), DType.FP32)
            assertArrayEquals(expected, fromHeap.outputs.single().toFloatArray())
        }
    }

    @Test
    fun `policies come from the Rust defaults`() {
        val p = Policy.balanced(deadlineMs = 150, keepRawInputOnDevice = true)
        assertEquals(Objective.BALANCED, p.objective)
        assertEquals(150.0, p.deadlineMs)
        assertTrue(p.keepRawInputOnDevice)
        assertEquals(
            listOf(
                Encoding.FP32, Encoding.FP16, Encoding.INT8, Encoding.INT8_CHANNEL,
                Encoding.INT8_LZ4, Encoding.INT8_ZSTD, Encoding.INT4_ZSTD, Encoding.JPEG,
            ),
            p.encodings,
        )
        assertEquals(Objective.ENERGY, Policy.energy().objective)
    }
}
