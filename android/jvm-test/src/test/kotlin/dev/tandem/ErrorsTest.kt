package dev.tandem

import dev.tandem.model.Tensor
import dev.tandem.planner.Policy
import dev.tandem.sdk.InferOptions
import dev.tandem.model.DType
import java.io.File
import java.nio.ByteBuffer
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Typed errors from Rust arrive as Kotlin exceptions; nothing else escapes. */
class ErrorsTest {
    @Test
    fun `a missing model file is a Model exception naming the file`() {
        val e = assertThrows<TandemException.Model> { Tandem.createBlocking(File("/nonexistent/face.onnx")) }
        assertTrue(e.reason.contains("/nonexistent/face.onnx"), e.reason)
    }

    @Test
    fun `tensors that do not fit the model are InvalidInput`() = runBlocking<Unit> {
        Tandem.create(TestModels.tinyResnet).use { tandem ->
            val wrongShape = Tensor.float32(FloatArray(10), intArrayOf(1, 10))
            val e = assertThrows<TandemException.InvalidInput> { runBlocking { tandem.infer(wrongShape) } }
            assertTrue(e.reason.isNotBlank())
            val short = TestModels.tinyResnetInput().copy(data = ByteArray(12))
            assertThrows<TandemException.InvalidInput> { runBlocking { tandem.infer(short) } }
            val beyond = InferOptions(cut = 100_000u)
            assertThrows<TandemException.InvalidInput> {
                runBlocking { tandem.infer(listOf(TestModels.tinyResnetInput()), beyond) }
            }
        }
    }

    @Test
    fun `a bad policy is a Config exception`() {
        val policy = Policy.latency().copy(maxAccuracyDrop = 3.0)
        assertThrows<TandemException.Config> { Tandem.createBlocking(TestModels.tinyResnet, policy = policy) }
    }

    @Test
    fun `a closed client throws TandemException Closed from every call`() = runBlocking<Unit> {
        val tandem = Tandem.create(TestModels.tinyResnet)
        tandem.close()
        tandem.close() // idempotent
        assertThrows<TandemException.Closed> { runBlocking { tandem.infer(TestModels.tinyResnetInput()) } }
        assertThrows<TandemException.Closed> {
            runBlocking { tandem.infer(listOf(TestModels.tinyResnetInput()), InferOptions()) }
        }
        val frame = ByteBuffer.allocateDirect(3 * 32 * 32 * 4)
        assertThrows<TandemException.Closed> { tandem.inferFrame(frame, intArrayOf(1, 3, 32, 32), DType.FP32) }
        assertThrows<TandemException.Closed> { tandem.modelInfo }
        assertThrows<TandemException.Closed> { tandem.edgeStatus }
        assertThrows<TandemException.Closed> { tandem.policy }
        assertThrows<TandemException.Closed> { runBlocking { tandem.awaitEdge(10) } }
        assertThrows<TandemException.Closed> { runBlocking { tandem.reports.toList() } }
    }
}
