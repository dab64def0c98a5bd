package dev.tandem.consumer

import dev.tandem.EdgeEndpoint
import dev.tandem.Tandem
import dev.tandem.float32
import dev.tandem.latency
import dev.tandem.model.Tensor
import dev.tandem.planner.Policy
import dev.tandem.sdk.EdgeStatus
import dev.tandem.sdk.InferOptions
import dev.tandem.toFloatArray
import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** "Add the SDK" on the JVM: the published artifact alone runs a split inference with an edge. */
class ConsumerTest {
    private val models = File(System.getProperty("tandem.models"))
    private val model = File(models, "tiny_resnet.onnx")

    @Test
    fun `the published SDK splits an inference with a real edge`() = runBlocking<Unit> {
        assertTrue(Tandem::class.java.getResource("/linux-x86-64/libtandem_ffi.so") != null, "the jar carries the library")
        assertNull(System.getProperty("jna.library.path"), "nothing points JNA outside the jar")
        val input = Tensor.float32(FloatArray(3 * 32 * 32) { ((it % 97) - 48f) / 48f }, intArrayOf(1, 3, 32, 32))
        val local = Tandem.create(model, policy = Policy.latency()).use { it.infer(input).outputs.single().toFloatArray() }
        startEdge().use { edge ->
            val endpoint = EdgeEndpoint(url = edge.first, token = TOKEN)
            Tandem.create(model, edge = endpoint, policy = Policy.latency()).use { tandem ->
                assertEquals(EdgeStatus.VERIFIED, tandem.awaitEdge(30_000))
                val mid = (tandem.modelInfo.cutCount / 2uL)
                val result = tandem.infer(listOf(input), InferOptions(cut = mid))
                assertTrue(result.report.offloaded, result.report.summary)
                assertArrayEquals(local, result.outputs.single().toFloatArray(), 1e-2f)
            }
        }
    }

    /** `tandem edge` serving a copy of the model on a free loopback port: (url, process). */
    private fun startEdge(): AutoCloseablePair {
        val dir = Files.createTempDirectory("consumer-edge").toFile()
        model.copyTo(File(dir, model.name))
        val tokenFile = File(dir, "token").apply { writeText(TOKEN) }
        val cli = System.getProperty("tandem.cli")
        val process = ProcessBuilder(cli, "edge", "--models", dir.path, "--listen", "127.0.0.1:0", "--token-file", tokenFile.path)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
        val lines = LinkedBlockingQueue<String>()
        Thread { process.errorStream.bufferedReader().forEachLine { lines.put(it) } }.apply { isDaemon = true }.start()
        val serving = Regex("""serving .* on (https?://\S+)""")
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        while (System.nanoTime() < deadline && process.isAlive) {
            val line = lines.poll(200, TimeUnit.MILLISECONDS) ?: continue
            serving.find(line)?.let { return AutoCloseablePair(it.groupValues[1], process) }
        }
        process.destroyForcibly()
        error("`tandem edge` did not start")
    }

    private class AutoCloseablePair(val first: String, private val process: Process) : AutoCloseable {
        override fun close() {
            process.destroy()
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
        }
    }

    private companion object {
        const val TOKEN = "consumer-token"
    }
}
