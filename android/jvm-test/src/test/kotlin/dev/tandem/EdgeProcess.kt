package dev.tandem

import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The real edge server, `tandem edge`, as a child process on a free loopback port, serving a
 * copy of the given models with a bearer token.
 */
class EdgeProcess private constructor(private val process: Process, val url: String, val token: String) :
    AutoCloseable {

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }

    companion object {
        fun start(vararg models: File): EdgeProcess {
            val cli = File(System.getProperty("tandem.cli") ?: "../../target/debug/tandem")
            check(cli.canExecute()) { "no `tandem` binary at $cli: run bindings/scripts/test-kotlin.sh" }
            val dir = Files.createTempDirectory("tandem-edge-models").toFile().apply { deleteOnExit() }
            models.forEach { it.copyTo(File(dir, it.name)) }
            val token = "kotlin-test-token"
            val tokenFile = File(dir, "token").apply { writeText(token) }
            val process = ProcessBuilder(
                cli.path, "edge", "--models", dir.path, "--listen", "127.0.0.1:0",
                "--token-file", tokenFile.path,
            ).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()

            // stderr announces the URL; keep draining it afterwards so the server never blocks
            val lines = LinkedBlockingQueue<String>()
            Thread {
                process.errorStream.bufferedReader().forEachLine { lines.put(it) }
            }.apply { isDaemon = true }.start()
            val serving = Regex("""serving .* on (https?://\S+)""")
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
            val seen = StringBuilder()
            while (System.nanoTime() < deadline) {
                val line = lines.poll(200, TimeUnit.MILLISECONDS)
                if (line == null) {
                    if (!process.isAlive) break
                    continue
                }
                seen.appendLine(line)
                serving.find(line)?.let { return EdgeProcess(process, it.groupValues[1], token) }
            }
            process.destroyForcibly()
            error("`tandem edge` did not start:\n$seen")
        }
    }
}
