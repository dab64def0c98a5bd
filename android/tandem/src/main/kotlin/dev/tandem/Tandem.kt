package dev.tandem

import dev.tandem.model.DType
import dev.tandem.model.Tensor
import dev.tandem.planner.Policy
import dev.tandem.sdk.EdgeStatus
import dev.tandem.sdk.InferOptions
import java.io.File
import java.nio.ByteBuffer
import java.util.concurrent.atomic.AtomicBoolean
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.withContext

/**
 * Split inference for one model: runs the first part of the model on the phone and the rest on
 * an edge server, choosing the cut per request from the network, battery and deadline.
 *
 * Create one per model when the app starts and reuse it for every request; it is thread-safe.
 * A request never fails because of the network: if the edge cannot be used the phone computes
 * the result, and [Report.fallbackReason] says why. On Android, create it with
 * `Tandem.create(context, ...)`, which wires the platform signals and Logcat.
 */
class Tandem internal constructor(
    private val client: TandemClient,
    private val owned: List<AutoCloseable>,
) : AutoCloseable {

    private val closed = AtomicBoolean(false)

    /**
     * Runs [call] on the native client, or throws [TandemException.Closed] once [close] was
     * called (also when the close races the call: the freed native object's
     * `IllegalStateException` is reported as what it means).
     */
    private inline fun <T> open(call: () -> T): T {
        if (closed.get()) throw TandemException.Closed()
        return try {
            call()
        } catch (e: IllegalStateException) {
            if (closed.get()) throw TandemException.Closed() else throw e
        }
    }

    /**
     * The model's identity (SHA-256), inputs and outputs, its privacy floor (the cut
     * `keepRawInputOnDevice` enforces) and, from its sidecar, how a camera frame becomes its
     * input ([ModelInfo.preprocessing], for [FrameTensors]).
     */
    val modelInfo: ModelInfo by lazy { open { client.modelInfo() } }

    /** The policy every plan respects. */
    val policy: Policy get() = open { client.policy() }

    /** What the client knows about its edge now. */
    val edgeStatus: EdgeStatus get() = open { client.edgeStatus() }

    /**
     * Runs one request. With one tensor per model input, in order; a tensor with an empty name
     * takes the name of the model input at its position.
     *
     * @throws TandemException.InvalidInput if the tensors do not fit the model.
     * @throws TandemException.Closed after [close].
     */
    suspend fun infer(vararg inputs: Tensor): InferResult = open { client.infer(inputs.toList()) }

    /** Runs one request with per-request [options] (forced cut, encoding, deadline). */
    suspend fun infer(inputs: List<Tensor>, options: InferOptions = InferOptions()): InferResult =
        open { client.inferWith(inputs, options) }

    /**
     * Runs one request on a single-input model straight from a buffer (a camera frame or a
     * crop), blocking the calling thread: for a camera analyzer's executor, never the main
     * thread. Not zero-copy: a direct buffer (as CameraX planes and [FrameTensors] outputs
     * are) crosses to Rust by reference, from its position to its limit, and Rust copies it
     * once into the tensor the request owns (an offloaded request outlives this borrow); a
     * heap buffer is first copied into a direct one on the Kotlin side.
     *
     * @param data the tensor's little-endian bytes.
     * @param shape the tensor's shape, e.g. `intArrayOf(1, 3, 150, 150)`.
     */
    fun inferFrame(data: ByteBuffer, shape: IntArray, dtype: DType = DType.UINT8): InferResult {
        val input = modelInfo.inputs.firstOrNull()?.name ?: ""
        return open { client.inferFrame(input, dtype, shape.map { it.toULong() }, data.asDirectSlice()) }
    }

    /**
     * The report of every request from the moment of collection, in completion order. A slow
     * collector skips the oldest reports; it never slows requests down. The flow completes
     * when the client is closed.
     */
    val reports: Flow<Report> = flow {
        val stream = open { client.subscribeReports() }
        try {
            while (true) {
                val report = stream.next() ?: break
                emit(report)
            }
        } finally {
            stream.cancel()
            stream.close()
        }
    }

    /**
     * Waits up to [timeoutMs] for the edge's model check to have an answer; requests never
     * need this (they start locally while the edge is checked), start-up screens and tests may.
     */
    suspend fun awaitEdge(timeoutMs: Long = 5_000): EdgeStatus = open { client.waitForEdge(timeoutMs.toULong()) }

    /**
     * Stops background work and frees the native client. Requests in flight finish; calling the
     * client afterwards throws [TandemException.Closed]. Closing twice does nothing.
     */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        client.shutdown()
        client.close()
        owned.forEach { it.close() }
    }

    companion object {
        /**
         * Loads [model] and starts checking [edge] in the background. Suspends while the model
         * loads (up to a few seconds for a large model) on [Dispatchers.IO]: the caller's
         * thread, the main thread included, is never blocked.
         *
         * @param model the ONNX file; the edge must serve the same file (hashes are compared).
         * @param edge the edge server; `null` runs everything on the phone.
         * @param signals the phone's network, battery and thermal state; on Android
         *   `Tandem.create(context, ...)` supplies it. `null`: unknown (desktop: read from Linux).
         * @param cacheDir where measured per-cut times are kept across launches.
         * @param deviceName the device's name for those measurements (e.g. `Build.MODEL`).
         * @throws TandemException.Model if the model file cannot be used.
         * @throws TandemException.Config if the edge URL or the policy is unusable.
         */
        suspend fun create(
            model: File,
            edge: EdgeEndpoint? = null,
            policy: Policy = Policy.balanced(),
            signals: PlatformSignalsProvider? = null,
            cacheDir: File? = null,
            deviceName: String? = null,
        ): Tandem = withContext(Dispatchers.IO) {
            createOwning(model, edge, policy, signals, cacheDir, deviceName, owned = emptyList())
        }

        /**
         * [create] for callers outside coroutines (Java, desktop tools): blocks the calling
         * thread while the model loads, so never call it on a UI thread.
         */
        @JvmStatic
        @JvmOverloads
        fun createBlocking(
            model: File,
            edge: EdgeEndpoint? = null,
            policy: Policy = Policy.balanced(),
            signals: PlatformSignalsProvider? = null,
            cacheDir: File? = null,
            deviceName: String? = null,
        ): Tandem = createOwning(model, edge, policy, signals, cacheDir, deviceName, owned = emptyList())

        /** [create], closing [owned] (e.g. platform signals) with the client. */
        internal fun createOwning(
            model: File,
            edge: EdgeEndpoint?,
            policy: Policy,
            signals: PlatformSignalsProvider?,
            cacheDir: File?,
            deviceName: String?,
            owned: List<AutoCloseable>,
        ): Tandem {
            val config = ClientConfig(
                modelPath = model.path,
                edge = edge,
                policy = policy,
                cacheDir = cacheDir?.path,
                deviceName = deviceName,
            )
            val client = try {
                TandemClient(config, signals)
            } catch (e: Throwable) {
                owned.forEach { it.close() }
                throw e
            }
            return Tandem(client, owned)
        }

        /**
         * Sends Tandem's log lines at [level] and above to [sink], replacing any sink set before.
         * The sink runs on Tandem's threads: keep it quick. Log lines never contain tensor data.
         */
        fun setLogger(level: LogLevel = LogLevel.INFO, sink: (LogRecord) -> Unit) {
            setLogSink(
                object : LogSink {
                    override fun log(record: LogRecord) = sink(record)
                },
                level,
            )
        }
    }
}

/** This buffer's remaining bytes as a direct buffer starting at index 0: in place if it is direct. */
private fun ByteBuffer.asDirectSlice(): ByteBuffer =
    if (isDirect) {
        slice()
    } else {
        ByteBuffer.allocateDirect(remaining()).put(duplicate()).also { it.flip() }
    }
