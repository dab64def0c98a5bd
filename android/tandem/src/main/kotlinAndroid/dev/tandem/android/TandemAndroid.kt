package dev.tandem.android

import android.content.Context
import android.os.Build
import dev.tandem.EdgeEndpoint
import dev.tandem.LogLevel
import dev.tandem.planner.Policy
import dev.tandem.Tandem
import dev.tandem.balanced
import dev.tandem.setLogSink
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * Creates a [Tandem] client wired to the phone: network, battery and thermal signals from
 * [AndroidPlatformSignals], Rust logs to Logcat at [logLevel], measured per-cut times cached in
 * the app's cache directory. Suspends while the model loads, on [Dispatchers.IO]: safe to call
 * from the main thread (e.g. in `viewModelScope.launch`).
 *
 * ```
 * val tandem = Tandem.create(
 *     context,
 *     model = File(filesDir, "face_embedder.onnx"),
 *     edge = EdgeEndpoint("https://edge.example.net", token = BuildConfig.EDGE_TOKEN),
 *     policy = Policy.balanced(deadlineMs = 150, keepRawInputOnDevice = true),
 * )
 * ```
 */
suspend fun Tandem.Companion.create(
    context: Context,
    model: File,
    edge: EdgeEndpoint?,
    policy: Policy = Policy.balanced(),
    logLevel: LogLevel = LogLevel.INFO,
): Tandem = withContext(Dispatchers.IO) {
    setLogSink(LogcatSink, logLevel)
    val signals = AndroidPlatformSignals(context)
    createOwning(
        model = model,
        edge = edge,
        policy = policy,
        signals = signals,
        cacheDir = File(context.cacheDir, "tandem"),
        deviceName = "${Build.MANUFACTURER} ${Build.MODEL}",
        owned = listOf(signals),
    )
}
