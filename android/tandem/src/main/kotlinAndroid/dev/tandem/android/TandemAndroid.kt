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

/**
 * Creates a [Tandem] client wired to the phone: network, battery and thermal signals from
 * [AndroidPlatformSignals], Rust logs to Logcat at [logLevel], measured per-cut times cached in
 * the app's cache directory. Blocks while the model loads: call it off the main thread.
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
fun Tandem.Companion.create(
    context: Context,
    model: File,
    edge: EdgeEndpoint?,
    policy: Policy = Policy.balanced(),
    logLevel: LogLevel = LogLevel.INFO,
): Tandem {
    setLogSink(LogcatSink, logLevel)
    val signals = AndroidPlatformSignals(context)
    return createOwning(
        model = model,
        edge = edge,
        policy = policy,
        signals = signals,
        cacheDir = File(context.cacheDir, "tandem"),
        deviceName = "${Build.MANUFACTURER} ${Build.MODEL}",
        owned = listOf(signals),
    )
}
