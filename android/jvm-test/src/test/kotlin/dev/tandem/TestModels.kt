package dev.tandem

import dev.tandem.model.Tensor
import java.io.File

/** The repository's models and inputs the tests run (paths from test-kotlin.sh). */
object TestModels {
    private val modelsDir = File(System.getProperty("tandem.models") ?: "../../models")

    /** `tiny_resnet.onnx`: input `input` float32 [1,3,32,32], output `logits` [1,10]. */
    val tinyResnet: File = File(modelsDir, "tiny_resnet.onnx")

    /** `face_embedder.onnx` (22 MB): input `image` float32 [1,3,150,150], with a sidecar. */
    val faceEmbedder: File = File(modelsDir, "face_embedder.onnx")

    /** A deterministic ramp that fits tiny_resnet's input, with an empty name (positional). */
    fun tinyResnetInput(): Tensor {
        val values = FloatArray(3 * 32 * 32) { ((it % 97) - 48f) / 48f }
        return Tensor.float32(values, intArrayOf(1, 3, 32, 32))
    }
}
