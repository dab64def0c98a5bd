package dev.tandem.faceid

import android.content.Context
import java.io.File

/** The embedder model, copied once from the APK's assets to the app's files (the SDK reads a file). */
object ModelFiles {
    private const val EMBEDDER = "face_embedder.onnx"

    /** The model file, copied from the assets on first use or when the APK's copy changed size. */
    fun embedder(context: Context): File {
        val target = File(context.filesDir, EMBEDDER)
        val size = context.assets.openFd(EMBEDDER).use { it.length }
        if (target.length() != size) {
            val tmp = File(context.filesDir, "$EMBEDDER.tmp")
            context.assets.open(EMBEDDER).use { input -> tmp.outputStream().use { input.copyTo(it) } }
            check(tmp.renameTo(target)) { "cannot install $EMBEDDER" }
        }
        return target
    }
}
